"""Depth and Pose slots compute their maps: Depth Anything (depth) and ViTPose drawn as OpenPose (pose), on
tiny random stand-ins built by studio/tiny.py in the real repos' layout and loaded through the same code.
Offline; random weights give arbitrary depth and keypoints, so the tests check sizes, ranges, drawing and the
plumbing through the engine, and the real models' behaviour (near = bright) through the normalisation."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio import registry
from studio.control.annotators import Annotators, AnnotatorUnavailable, normalise_depth
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
    for model in (registry.DEPTH_ESTIMATOR, registry.POSE_ESTIMATOR):
        assert re.fullmatch(r"[0-9a-f]{40}", model.revision)
        assert model.licence == "Apache-2.0"
        assert "model.safetensors" in model.allow_patterns and "preprocessor_config.json" in model.allow_patterns
        assert not any(p.endswith((".bin", ".pt", ".pth", ".ckpt")) for p in model.allow_patterns)


def test_the_tiny_depth_model_loads_through_the_registry_path(annotators, tiny_root):
    from transformers import DepthAnythingForDepthEstimation, VitPoseForPoseEstimation

    folder = tiny_root / "depth-anything--Depth-Anything-V2-Small-hf"
    model, processor, _ = annotators._load("depth")
    assert sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".safetensors")) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "studio_tiny.json",
    ]
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
    assert keypoints.shape == (17, 2) and scores.shape == (17,)
    skeleton = np.asarray(slot_input(scene(True), "Pose", WIDTH, HEIGHT, annotators=annotators))
    assert skeleton.shape == (HEIGHT, WIDTH, 3) and skeleton.dtype == np.uint8
    assert skeleton.max() > 0
    colours = {tuple(c) for c in skeleton.reshape(-1, 3)} - {(0, 0, 0)}
    assert colours & (set(COLOURS) | {tuple(int(v * 0.6) for v in c) for c in COLOURS})


def test_pose_without_a_person_is_an_invalid_request(annotators, monkeypatch):
    monkeypatch.setattr(annotators, "keypoints", lambda image: (STANDING, np.zeros(17)))
    with pytest.raises(InvalidRequest, match=r"image_prompts\[0\].*no person"):
        slot_input(scene(True), "Pose", WIDTH, HEIGHT, field="image_prompts[0]", annotators=annotators)


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
