"""Image prompts: PyraCanny/CPDS maps and the face crop on real photos, and IP-Adapter/ControlNet slots on the
tiny model (weight, stop-at, combinations, metadata). Offline: tiny models stand in for the registry ones."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import skimage.data as skimage_data
import torch
from PIL import Image

from studio.control import preprocessors
from studio.control.cli_args import image_prompts_from_args, parse_image_prompt
from studio.control.face import crop_face
from studio.control.maps import slot_input
from studio.types import GenerationRequest, ImagePrompt, InvalidRequest, validate_request

ASTRONAUT_FACE = (175, 65, 270, 165)  # where Eileen Collins' face is in skimage's astronaut (left, top, right, bottom)


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage_data, name)())


def gradient(image: Image.Image) -> np.ndarray:
    gray = np.asarray(image.convert("L"), np.float32)
    gy, gx = np.gradient(gray)
    return np.hypot(gx, gy)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_pyracanny_marks_the_photos_edges_and_nothing_on_a_flat_image(name):
    image = photo(name)
    edges = np.asarray(preprocessors.pyracanny(image))
    assert edges.shape == (image.height, image.width, 3) and edges.dtype == np.uint8
    assert edges.min() == 0 and edges.max() == 255
    strength = gradient(image)
    strong, weak = strength > np.percentile(strength, 90), strength < np.percentile(strength, 40)
    assert edges[..., 0][strong].mean() > 4 * edges[..., 0][weak].mean() + 10
    flat = Image.new("RGB", (image.width, image.height), (120, 80, 200))
    assert np.asarray(preprocessors.pyracanny(flat)).max() == 0


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_cpds_is_a_full_range_structure_map_following_the_photo(name):
    image = photo(name)
    structure = np.asarray(preprocessors.cpds(image))
    assert structure.shape == (image.height, image.width, 3) and structure.dtype == np.uint8
    assert structure.min() == 0 and structure.max() == 255 and structure[..., 0].std() > 30
    # 4th..96th percentiles are stretched to 0..255: at least ~4% of pixels sit at each end (more on ties).
    assert (structure[..., 0] == 0).mean() >= 0.035 and (structure[..., 0] == 255).mean() >= 0.035
    luminance = np.asarray(image.convert("L"), np.float32).ravel()
    assert np.corrcoef(luminance, structure[..., 0].ravel().astype(np.float32))[0, 1] > 0.5
    assert np.asarray(preprocessors.cpds(Image.new("RGB", (96, 64), (30, 160, 90)))).max() == 0
    # A step between two colours of equal brightness still shows as a step.
    halves = np.zeros((64, 96, 3), np.uint8)
    halves[:, :48] = (200, 40, 40)
    halves[:, 48:] = (40, 120, 40)
    step = np.asarray(preprocessors.cpds(Image.fromarray(halves)))[..., 0].astype(int)
    assert abs(step[:, :40].mean() - step[:, 56:].mean()) > 100


def test_control_maps_match_the_output_size_or_pass_through_raw():
    image = photo("chelsea")
    for slot_type in ("PyraCanny", "CPDS"):
        assert slot_input(image, slot_type, 96, 64).size == (96, 64)
    raw = slot_input(image, "CPDS", 96, 64, skip_preprocess=True)
    assert np.array_equal(np.asarray(raw), np.asarray(preprocessors.fit_to_size(image, 96, 64)))
    from studio.control.annotators import AnnotatorUnavailable  # Depth/Pose maps need the stage's models

    with pytest.raises(AnnotatorUnavailable, match=r"image_prompts\[3\]"):
        slot_input(image, "Depth", 96, 64, field="image_prompts[3]")


def test_face_crop_finds_the_astronauts_face_and_names_the_slot_without_one():
    found = crop_face(photo("astronaut"))
    left, top, right, bottom = found.box
    kl, kt, kr, kb = ASTRONAUT_FACE
    overlap = max(0, min(right, kr) - max(left, kl)) * max(0, min(bottom, kb) - max(top, kt))
    union = (right - left) * (bottom - top) + (kr - kl) * (kb - kt) - overlap
    assert overlap / union > 0.6
    assert found.image.size == (512, 512) and abs(found.angle) < 10
    with pytest.raises(InvalidRequest, match=r"image_prompts\[2\].*no face"):
        crop_face(photo("coffee"), "image_prompts[2]")


def test_slots_validate_by_field_and_round_trip_through_json():
    digest = "ab" * 32
    request = GenerationRequest(
        image_prompts=(ImagePrompt.of(digest, "FaceSwap"), ImagePrompt.of(digest, "CPDS", 0.4, 0.3, True))
    )
    assert request.image_prompts[0].weight == 0.75 and request.image_prompts[0].stop_at == 0.9
    assert GenerationRequest.from_dict(request.to_dict()) == request
    data = request.to_dict()
    data["image_prompts"] = [{"image": digest, "type": "PyraCanny"}]
    assert GenerationRequest.from_dict(data).image_prompts[0] == ImagePrompt(digest, "PyraCanny", 1.0, 0.5)
    bad = [
        (
            replace(request, image_prompts=(request.image_prompts[0], ImagePrompt.of(digest, "CPDS", weight=2.5))),
            r"image_prompts\[1\]\.weight",
        ),
        (
            replace(request, image_prompts=(ImagePrompt.of(digest, "CPDS", stop_at=-0.1),)),
            r"image_prompts\[0\]\.stop_at",
        ),
        (replace(request, image_prompts=(ImagePrompt.of(digest, "Sketch"),)), r"image_prompts\[0\]\.type"),
        (replace(request, image_prompts=(ImagePrompt.of("../etc/passwd", "CPDS"),)), r"image_prompts\[0\]\.image"),
        (replace(request, image_prompts=(ImagePrompt.of(digest, "CPDS"),) * 5), r"image_prompts: has 5"),
    ]
    for candidate, message in bad:
        with pytest.raises(InvalidRequest, match=message):
            validate_request(candidate, None)
    with pytest.raises(InvalidRequest, match=r"image_prompts\[0\]\.skip_preprocess"):
        GenerationRequest.from_dict({"image_prompts": [{"image": digest, "type": "CPDS", "skip_preprocess": "yes"}]})


def test_cli_image_prompt_option(tmp_path):
    assert parse_image_prompt("C:/pics/a:b.png:cpds:0.5:0.3") == ("C:/pics/a:b.png", "CPDS", 0.5, 0.3, False)
    assert parse_image_prompt("face.jpg:FaceSwap") == ("face.jpg", "FaceSwap", None, None, False)
    assert parse_image_prompt("pose.png:Pose:1:0.8:raw") == ("pose.png", "Pose", 1.0, 0.8, True)
    for text in ("face.jpg", "face.jpg:FaceSwap:x", "a.png:CPDS:1:1:1"):
        with pytest.raises(InvalidRequest, match="--image-prompt"):
            parse_image_prompt(text)
    from argparse import Namespace

    from studio.inputs import InputStore

    path = tmp_path / "cat.png"
    photo("chelsea").save(path)
    store = InputStore(tmp_path / "inputs")
    (slot,) = image_prompts_from_args(Namespace(image_prompt=[f"{path}:PyraCanny:0.8"]), store)
    assert slot.type == "PyraCanny" and slot.weight == 0.8 and slot.stop_at == 0.5
    assert store.get(slot.image).size == (451, 300)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(InvalidRequest, match=r"image_prompts\[0\]"):
        image_prompts_from_args(Namespace(image_prompt=[f"{tmp_path / 'junk.png'}:CPDS"]), store)


def test_registry_folder_prefers_a_complete_local_copy(tmp_path):
    from studio import registry
    from studio.models import PipelineManager
    from studio.settings import Settings

    manager = PipelineManager(Settings(model="tiny", models_dir=tmp_path, device="cpu", offline=True))
    local = tmp_path / "registry" / "diffusers--controlnet-canny-sdxl-1.0"
    local.mkdir(parents=True)
    for name in registry.CONTROLNET_CANNY_SDXL.allow_patterns:
        (local / name).write_text("{}")
    assert manager.registry_folder(registry.CONTROLNET_CANNY_SDXL) == local


# --- on the tiny model -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_services):
    return tiny_services.engine


@pytest.fixture(scope="module")
def hashes(engine):
    return {name: engine.inputs.put(photo(name)) for name in ("astronaut", "chelsea", "coffee")}


@pytest.fixture
def base(tiny_request):
    return replace(tiny_request, steps=4)


def pixels(engine, request) -> np.ndarray:
    return np.asarray(engine.run(request).images[0].image)


def step_latents(engine, request) -> list[torch.Tensor]:
    """The latents after each denoising step, recorded by a step hook of an extra stage."""
    recorded = []

    def recorder(_engine, _request, plan):
        plan.step_hooks.append(lambda pipe, step, timestep, tensors: recorded.append(tensors["latents"].clone()))

    stages = engine.stages
    engine.stages = (*stages, recorder)
    try:
        engine.run(request)
    finally:
        engine.stages = stages
    return recorded


@pytest.mark.parametrize("slot_type", ["ImagePrompt", "FaceSwap", "PyraCanny", "CPDS"])
def test_each_slot_type_steers_and_weight_zero_equals_no_slot(engine, hashes, base, slot_type):
    plain = pixels(engine, base)
    slot = ImagePrompt.of(hashes["astronaut"], slot_type, stop_at=1.0)
    steered = pixels(engine, replace(base, image_prompts=(slot,)))
    assert np.abs(steered.astype(int) - plain).mean() > 1
    assert np.array_equal(pixels(engine, replace(base, image_prompts=(replace(slot, weight=0.0),))), plain)
    assert np.array_equal(pixels(engine, base), plain)  # and the adapters/ControlNets leave nothing behind


@pytest.mark.parametrize("slot_type", ["ImagePrompt", "PyraCanny"])
def test_stop_at_changes_only_the_later_steps(engine, hashes, base, slot_type):
    slot = ImagePrompt.of(hashes["astronaut"], slot_type, weight=1.5, stop_at=0.5)
    stopping = step_latents(engine, replace(base, image_prompts=(slot,)))
    lasting = step_latents(engine, replace(base, image_prompts=(replace(slot, stop_at=1.0),)))
    plain = step_latents(engine, base)
    assert len(stopping) == len(lasting) == 4
    for step in (0, 1):  # (step + 1) / 4 <= 0.5: still steering
        assert torch.equal(stopping[step], lasting[step])
        assert not torch.equal(stopping[step], plain[step])
    for step in (2, 3):
        assert not torch.allclose(stopping[step], lasting[step], atol=1e-4)


def test_two_image_prompts_combine_with_their_own_weights(engine, hashes, base):
    one = ImagePrompt.of(hashes["coffee"], "ImagePrompt", weight=1.0, stop_at=1.0)
    two = ImagePrompt.of(hashes["chelsea"], "ImagePrompt", weight=1.0, stop_at=1.0)
    both = pixels(engine, replace(base, image_prompts=(one, two)))
    assert not np.array_equal(both, pixels(engine, replace(base, image_prompts=(one,))))
    assert np.array_equal(
        pixels(engine, replace(base, image_prompts=(one, replace(two, weight=0.0)))),
        pixels(engine, replace(base, image_prompts=(one,))),
    )


def test_four_slots_run_together_and_the_metadata_remakes_the_image(engine, hashes, base, store):
    from studio.outputs import read_request

    slots = (
        ImagePrompt.of(hashes["chelsea"], "ImagePrompt"),
        ImagePrompt.of(hashes["astronaut"], "FaceSwap"),
        ImagePrompt.of(hashes["coffee"], "PyraCanny", 0.8, 0.6),
        ImagePrompt.of(hashes["astronaut"], "CPDS"),
    )
    request = replace(base, image_prompts=slots)
    result = engine.run(request)
    image = np.asarray(result.images[0].image)
    assert not np.array_equal(image, pixels(engine, base))
    record = store.save(result.images[0].image, result.images[0].request)
    recorded = read_request(record.path)
    assert recorded.image_prompts == slots
    assert [slot.image for slot in recorded.image_prompts] == [
        hashes[n] for n in ("chelsea", "astronaut", "coffee", "astronaut")
    ]
    assert np.array_equal(pixels(engine, recorded), image)


def test_a_faceswap_slot_without_a_face_is_refused_by_slot(engine, hashes, base):
    request = replace(
        base, image_prompts=(ImagePrompt.of(hashes["chelsea"], "CPDS"), ImagePrompt.of(hashes["coffee"], "FaceSwap"))
    )
    with pytest.raises(InvalidRequest, match=r"image_prompts\[1\].*no face"):
        engine.run(request)
    missing = replace(base, image_prompts=(ImagePrompt.of("0" * 64, "CPDS"),))
    with pytest.raises(InvalidRequest, match=r"image_prompts\[0\]\.image"):
        engine.run(missing)
