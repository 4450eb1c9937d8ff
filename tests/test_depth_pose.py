"""Depth and Pose slots compute their maps: Depth Anything (depth) and, for pose, RT-DETR person boxes with
ViTPose run on each drawn as OpenPose, on tiny random stand-ins built by studio/tiny in the real repos' layout
and loaded through the same code. Offline; random weights give arbitrary depth, boxes and keypoints, so the
tests check sizes, ranges, drawing, box selection and the plumbing through the engine, and the real models'
behaviour (near = bright) through the normalisation."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio import registry
from studio.control.annotators import (
    MAX_PEOPLE,
    PERSON_SCORE_THRESHOLD,
    Annotators,
    AnnotatorUnavailable,
    normalise_depth,
    select_people,
)
from studio.control.maps import slot_input
from studio.control.pose_drawing import COLOURS, draw_openpose, openpose_points, pose_map
from studio.types import ImagePrompt, InvalidRequest

WIDTH, HEIGHT = 96, 64


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return tmp_path_factory.mktemp("models") / "tiny-registry"


@pytest.fixture(scope="module")
def annotators(tiny_root):
    from studio import tiny

    return Annotators(lambda model: tiny.ensure_tiny_registry_model(tiny_root, model), "cpu")


def scene(with_object: bool) -> Image.Image:
    """A dim floor-to-wall gradient, optionally with a bright disc in front."""
    rows = np.linspace(40, 110, 128, dtype=np.float32)[:, None, None]
    image = Image.fromarray(np.broadcast_to(rows, (128, 192, 3)).astype(np.uint8).copy())
    if with_object:
        ImageDraw.Draw(image).ellipse((70, 40, 130, 100), fill=(235, 225, 210))
    return image


# --- Depth ------------------------------------------------------------------------------------------------


def test_the_registry_pins_safetensors_annotators_with_their_licences():
    for model in (registry.DEPTH_ESTIMATOR, registry.POSE_ESTIMATOR, registry.PERSON_DETECTOR):
        assert re.fullmatch(r"[0-9a-f]{40}", model.revision)
        assert model.licence == "Apache-2.0"
        assert "model.safetensors" in model.allow_patterns and "preprocessor_config.json" in model.allow_patterns
        assert not any(p.endswith((".bin", ".pt", ".pth", ".ckpt")) for p in model.allow_patterns)


# The files of a transformers model in the registry's layout (the tiny stand-ins add their marker file).
TRANSFORMERS_LAYOUT = ["config.json", "model.safetensors", "preprocessor_config.json", "studio_tiny.json"]


def model_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".safetensors"))


def test_the_tiny_depth_model_loads_through_the_registry_path(annotators, tiny_root):
    from transformers import DepthAnythingForDepthEstimation, VitPoseForPoseEstimation

    folder = tiny_root / "depth-anything--Depth-Anything-V2-Small-hf"
    model, processor, _ = annotators._load("depth")
    assert model_files(folder) == TRANSFORMERS_LAYOUT
    assert isinstance(model, DepthAnythingForDepthEstimation) and type(processor).__name__.startswith(
        "DPTImageProcessor"
    )
    assert isinstance(annotators._load("pose")[0], VitPoseForPoseEstimation)
    assert annotators._load("depth")[0] is model  # loaded once, kept


def test_depth_map_has_the_output_size_full_range_and_follows_the_image(annotators):
    with_object = np.asarray(slot_input(scene(True), "Depth", WIDTH, HEIGHT, annotators=annotators))
    without = np.asarray(slot_input(scene(False), "Depth", WIDTH, HEIGHT, annotators=annotators))
    for depth in (with_object, without):
        assert depth.shape == (HEIGHT, WIDTH, 3) and depth.dtype == np.uint8
        assert depth.min() == 0 and depth.max() == 255
        assert np.array_equal(depth[..., 0], depth[..., 1]) and np.array_equal(depth[..., 0], depth[..., 2])
    assert np.abs(with_object.astype(int) - without).mean() > 5
    # The same image always gives the same map.
    again = np.asarray(slot_input(scene(True), "Depth", WIDTH, HEIGHT, annotators=annotators))
    assert np.array_equal(again, with_object)


def test_a_flat_image_gives_a_constant_depth_map(annotators):
    flat = np.asarray(
        slot_input(Image.new("RGB", (150, 90), (90, 140, 60)), "Depth", WIDTH, HEIGHT, annotators=annotators)
    )
    assert flat.shape == (HEIGHT, WIDTH, 3) and flat.max() == flat.min()


def test_depth_normalisation_makes_near_bright():
    disparity = np.tile(np.linspace(0.5, 7.0, 40, dtype=np.float32), (10, 1))  # larger = nearer
    gray = np.asarray(normalise_depth(disparity))[..., 0]
    assert gray[:, 0].max() == 0 and gray[:, -1].min() == 255
    assert np.all(np.diff(gray.astype(int), axis=1) >= 0)
    assert np.asarray(normalise_depth(np.full((4, 4), 3.0))).max() == 0


def test_model_maps_need_annotators():
    with pytest.raises(AnnotatorUnavailable, match=r"image_prompts\[1\]"):
        slot_input(scene(True), "Pose", WIDTH, HEIGHT, field="image_prompts[1]")
    raw = slot_input(scene(True), "Depth", WIDTH, HEIGHT, skip_preprocess=True)  # a ready map needs no model
    assert raw.size == (WIDTH, HEIGHT)


# --- Pose -------------------------------------------------------------------------------------------------

# A person standing in a 96x128 frame, COCO order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
STANDING = np.array(
    [
        (48, 20), (45, 17), (51, 17), (42, 19), (54, 19), (38, 34), (58, 34), (34, 52), (62, 52), (32, 68),
        (64, 68), (42, 72), (54, 72), (41, 95), (55, 95), (40, 118), (56, 118),
    ],
    np.float32,
)  # fmt: skip


def test_coco_keypoints_become_openpose_points_with_a_neck():
    points = openpose_points(STANDING, np.ones(17), 96, 128)
    assert len(points) == 18
    assert points[0] == (48, 20) and points[1] == (48, 34)  # nose, neck between the shoulders
    assert points[2] == (58, 34) and points[5] == (38, 34)  # OpenPose's right shoulder is COCO's right (6)
    scores = np.ones(17)
    scores[6] = 0.1  # an unsure right shoulder: no right shoulder, and so no neck
    unsure = openpose_points(STANDING, scores, 96, 128)
    assert unsure[2] is None and unsure[1] is None and unsure[5] == (38, 34)
    off = STANDING.copy()
    off[15] = (40, 140)  # the left ankle (OpenPose point 13) below the frame
    assert openpose_points(off, np.ones(17), 96, 128)[13] is None


def test_the_pose_map_draws_the_openpose_skeleton():
    skeleton = np.asarray(pose_map(STANDING, np.ones(17), 96, 128))
    assert skeleton.shape == (128, 96, 3) and skeleton.dtype == np.uint8
    assert tuple(skeleton[20, 48]) == COLOURS[0]  # the nose joint, in OpenPose's colour for point 0
    assert tuple(skeleton[34, 48]) == COLOURS[1]  # the neck
    assert tuple(skeleton[118, 40]) == COLOURS[13]  # the left ankle (COCO 15, OpenPose point 13)
    assert tuple(skeleton[5, 5]) == (0, 0, 0) and tuple(skeleton[126, 94]) == (0, 0, 0)
    assert (skeleton.sum(axis=-1) > 0).mean() < 0.25
    # A limb between the hip and the knee, drawn at 60% of its colour: right thigh is limb 7, (8, 9).
    assert tuple(skeleton[84, 55]) == tuple(int(c * 0.6) for c in COLOURS[7])
    bigger = np.asarray(draw_openpose(openpose_points(STANDING * 8, np.ones(17), 768, 1024), 768, 1024))
    assert (bigger.sum(axis=-1) > 0).mean() > 0.5 * (skeleton.sum(axis=-1) > 0).mean()  # sticks scale with the map


def test_no_person_is_refused_naming_the_slot():
    with pytest.raises(InvalidRequest, match=r"image_prompts\[2\].*no person"):
        pose_map(STANDING, np.full(17, 0.05), 96, 128, "image_prompts[2]")
    few = np.zeros(17)
    few[[0, 1, 2]] = 0.9
    with pytest.raises(InvalidRequest, match="no person"):
        pose_map(STANDING, few, 96, 128)


def test_pose_slot_on_the_tiny_model_gives_a_skeleton_of_the_output_size(annotators):
    keypoints, scores = annotators.keypoints(scene(True).resize((WIDTH, HEIGHT)))
    people = len(keypoints)
    assert 1 <= people <= MAX_PEOPLE and keypoints.shape == (people, 17, 2) and scores.shape == (people, 17)
    skeleton = np.asarray(slot_input(scene(True), "Pose", WIDTH, HEIGHT, annotators=annotators))
    assert skeleton.shape == (HEIGHT, WIDTH, 3) and skeleton.dtype == np.uint8
    assert skeleton.max() > 0
    colours = {tuple(c) for c in skeleton.reshape(-1, 3)} - {(0, 0, 0)}
    assert colours & (set(COLOURS) | {tuple(int(v * 0.6) for v in c) for c in COLOURS})


def test_pose_without_a_person_is_an_invalid_request(annotators, monkeypatch):
    monkeypatch.setattr(annotators, "keypoints", lambda image: (STANDING, np.zeros(17)))
    with pytest.raises(InvalidRequest, match=r"image_prompts\[0\].*no person"):
        slot_input(scene(True), "Pose", WIDTH, HEIGHT, field="image_prompts[0]", annotators=annotators)


# --- Pose: several people ------------------------------------------------------------------------------

# Two people side by side in a 192x128 picture, COCO (x, y, w, h): ViTPose's crops around them (each box
# padded to 3:4 and by 25%) stay in the left and right halves.
TWO_PEOPLE = np.array([[10, 20, 40, 90], [140, 20, 40, 90]], np.float32)


def test_two_detected_people_are_each_posed_and_drawn(annotators, monkeypatch):
    image = scene(True)  # 192x128
    seen = []
    monkeypatch.setattr(annotators, "people", lambda picture: seen.append(picture.size) or TWO_PEOPLE.copy())
    keypoints, scores = annotators.keypoints(image)
    assert seen == [image.size]
    assert keypoints.shape == (2, 17, 2) and scores.shape == (2, 17)  # ViTPose ran on both boxes
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = (x >= 0) & (x < 192) & (y >= 0) & (y < 128)  # (people, 17): the keypoints on the map
    left, right = keypoints[0][inside[0]], keypoints[1][inside[1]]
    assert len(left) >= 4 and len(right) >= 4
    assert left[:, 0].max() < 96 <= right[:, 0].min()  # each person's keypoints from its own box
    # Each box's region of the map has that person's skeleton.
    drawn = np.asarray(pose_map(keypoints, scores, *image.size)).sum(axis=-1) > 0
    assert drawn[:, :96].sum() > 50 and drawn[:, 96:].sum() > 50
    # The Pose slot draws them both (slot_input fits the 192x128 image to 192x128 unchanged).
    skeleton = np.asarray(slot_input(image, "Pose", 192, 128, annotators=annotators)).sum(axis=-1) > 0
    assert np.array_equal(skeleton, drawn)


def test_pose_maps_draw_every_person_that_has_enough_keypoints():
    shifted = STANDING + np.array([96, 0], np.float32)
    two = np.asarray(pose_map(np.stack([STANDING, shifted]), np.ones((2, 17)), 192, 128))
    one = np.asarray(pose_map(STANDING, np.ones(17), 192, 128))
    assert tuple(two[20, 48]) == COLOURS[0] and tuple(two[20, 144]) == COLOURS[0]  # both noses
    assert np.array_equal(two[:, :90], one[:, :90]) and one[:, 96:].max() == 0
    unsure = np.ones((2, 17))
    unsure[1] = 0.05  # the second person is not sure enough to draw; the first still is
    assert np.array_equal(np.asarray(pose_map(np.stack([STANDING, shifted]), unsure, 192, 128)), one)
    with pytest.raises(InvalidRequest, match="no person"):
        pose_map(np.stack([STANDING, shifted]), np.full((2, 17), 0.05), 192, 128)


def test_without_a_detected_person_the_whole_image_is_one_person(annotators, monkeypatch):
    image = scene(True)
    monkeypatch.setattr(annotators, "people", lambda picture: np.zeros((0, 4), np.float32))
    used = []
    run_vitpose = annotators.keypoints_in_boxes
    monkeypatch.setattr(
        annotators, "keypoints_in_boxes", lambda picture, boxes: used.append(boxes) or run_vitpose(picture, boxes)
    )
    keypoints, scores = annotators.keypoints(image)
    assert keypoints.shape == (1, 17, 2) and scores.shape == (1, 17)
    assert len(used) == 1 and np.array_equal(used[0], [[0, 0, 192, 128]])
    assert np.array_equal(keypoints, run_vitpose(image, [[0, 0, 192, 128]])[0])


def test_person_boxes_are_confident_people_clipped_without_duplicates_largest_first():
    person, car = 0, 2
    scores = [0.9, 0.8, PERSON_SCORE_THRESHOLD - 0.01, 0.95, 0.85, 0.7]
    labels = [person, person, person, car, person, person]
    boxes = [
        (-20, 10, 60, 120),  # reaches past the left edge: clipped to x = 0
        (100, 20, 150, 100),
        (0, 0, 190, 120),  # not sure enough
        (0, 0, 190, 120),  # a car
        (-18, 12, 60, 118),  # the first person again (IoU > 0.7), found less surely
        (160, 30, 300, 60),  # reaches past the right edge
    ]
    chosen = select_people(scores, labels, boxes, [person], 192, 128)
    assert chosen.dtype == np.float32
    assert chosen.tolist() == [[0, 10, 60, 110], [100, 20, 50, 80], [160, 30, 32, 30]]  # COCO (x, y, w, h)
    crowd = select_people(
        np.full(12, 0.9), np.zeros(12), [(16 * i, 0, 16 * i + 2 + i, 50) for i in range(12)], [0], 192, 128
    )
    assert len(crowd) == MAX_PEOPLE and crowd[:, 2].tolist() == [2 + i for i in range(11, 3, -1)]
    assert select_people([0.9], [car], [(0, 0, 50, 50)], [person], 192, 128).shape == (0, 4)
    assert select_people([], [], np.zeros((0, 4)), [person], 192, 128).shape == (0, 4)


def test_the_tiny_person_detector_loads_from_its_folder_and_finds_boxes_in_a_photo(annotators, tiny_root):
    from skimage.data import astronaut
    from transformers import RTDetrForObjectDetection

    folder = tiny_root / "PekingU--rtdetr_r50vd_coco_o365"
    model, processor, _ = annotators._load("person")
    assert model_files(folder) == TRANSFORMERS_LAYOUT
    assert isinstance(model, RTDetrForObjectDetection) and type(processor).__name__.startswith("RTDetrImageProcessor")
    assert model.config.id2label[0] == "person"  # as in the real detector
    photo = Image.fromarray(astronaut())  # 512x512
    boxes = annotators.people(photo)
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert 1 <= len(boxes) <= MAX_PEOPLE  # the tiny model's biases make it always "find" people
    x, y, w, h = boxes.T
    assert np.all((x >= 0) & (y >= 0) & (w > 0) & (h > 0) & (x + w <= 512 + 1e-3) & (y + h <= 512 + 1e-3))
    assert np.all(np.diff(w * h) <= 1e-3)  # largest first
    assert np.array_equal(annotators.people(photo), boxes)  # deterministic
    keypoints, scores = annotators.keypoints(photo)
    assert keypoints.shape == (len(boxes), 17, 2) and scores.shape == (len(boxes), 17)


def test_the_tiny_person_detector_builds_deterministically():
    import torch

    from studio.control.tiny_annotators import build_tiny_person_detector

    first, second = build_tiny_person_detector()[0].state_dict(), build_tiny_person_detector()[0].state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


# --- through the engine on the tiny model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_services):
    return tiny_services.engine


@pytest.mark.parametrize("slot_type", ["Depth", "Pose"])
def test_depth_and_pose_slots_steer_and_weight_zero_equals_no_slot(engine, tiny_request, slot_type):
    image = engine.inputs.put(scene(True))
    base = replace(tiny_request, steps=2)
    plain = np.asarray(engine.run(base).images[0].image)
    slot = ImagePrompt.of(image, slot_type, stop_at=1.0)
    steered = np.asarray(engine.run(replace(base, image_prompts=(slot,))).images[0].image)
    assert np.abs(steered.astype(int) - plain).mean() > 1
    zero = np.asarray(engine.run(replace(base, image_prompts=(replace(slot, weight=0.0),))).images[0].image)
    assert np.array_equal(zero, plain)
    stage = next(s for s in engine.stages if hasattr(s, "annotators"))
    preview = stage.preview(scene(True), slot_type, base.width, base.height)
    assert preview.size == (base.width, base.height)


def test_a_pose_slot_makes_the_same_image_from_the_same_request(engine, tiny_request):
    image = engine.inputs.put(scene(True))
    request = replace(tiny_request, steps=2, image_prompts=(ImagePrompt.of(image, "Pose", stop_at=1.0),))
    stage = next(s for s in engine.stages if hasattr(s, "annotators"))
    first = engine.run(request)
    stage._maps.clear()  # the second run detects and poses again instead of reusing the cached map
    second = engine.run(request)
    assert first.images[0].image.tobytes() == second.images[0].image.tobytes()
    assert first.request == second.request and first.request.image_prompts[0].type == "Pose"
