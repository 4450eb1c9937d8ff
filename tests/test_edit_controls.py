"""Issue 15 part C on the tiny model: inpaint controls (invert, erode, denoise, respective field, inpaint prompt)
and the vary/upscale denoise overrides; each non-neutral setting shows its effect, neutral ones change nothing."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from studio.edit import edit_stage, masks
from studio.outputs import parse_studio_metadata, read_request, studio_metadata
from studio.sampling_plan import SamplingPlan
from studio.types import EditSpec, GenerationRequest, InvalidRequest
from tests.test_edit import edit_request, picture, run_one, square_mask


@pytest.fixture(scope="module")
def engine(tiny_services):
    return tiny_services.engine


def inpaint(engine, tiny_request, **controls) -> GenerationRequest:
    spec = {"mask_grow": 0, "mask_feather": 0, **controls}
    return edit_request(
        tiny_request, kind="inpaint", image=engine.inputs.put(picture()), mask=engine.inputs.put(square_mask()), **spec
    )


def plan_of(engine, request: GenerationRequest) -> SamplingPlan:
    """The sampling plan the edit stage makes for the resolved request (what the pipeline is called with)."""
    plan = SamplingPlan()
    edit_stage(engine, engine.resolve(request)[0], plan)
    return plan


WHITE = np.asarray(square_mask()) > 127  # the square the mask paints


def test_inverted_mask_repaints_the_other_side(engine, tiny_request):
    before = np.asarray(picture())
    plain = np.asarray(run_one(engine, inpaint(engine, tiny_request)))
    inverted = np.asarray(run_one(engine, inpaint(engine, tiny_request, mask_invert=True)))
    assert np.array_equal(plain[~WHITE], before[~WHITE]) and not np.array_equal(plain[WHITE], before[WHITE])
    assert np.array_equal(inverted[WHITE], before[WHITE]), "inverted: the painted square is kept"
    assert np.abs(inverted[~WHITE].astype(int) - before[~WHITE]).mean() > 1, "and everything else is repainted"


def test_negative_grow_erodes_the_mask(engine, tiny_request):
    before = np.asarray(picture())
    out = np.asarray(run_one(engine, inpaint(engine, tiny_request, mask_grow=-4, mask_feather=2)))
    eroded = ~masks.grow(~WHITE, 4)
    assert eroded.sum() == 8 * 8  # the 16 px square less 4 px on each side
    assert np.array_equal(out[~eroded], before[~eroded]), "pixels outside the eroded mask are unchanged"
    assert np.abs(out[eroded].astype(int) - before[eroded]).mean() > 1
    with pytest.raises(InvalidRequest) as caught:
        engine.run(inpaint(engine, tiny_request, mask_grow=-9))
    assert caught.value.field == "edit.mask_grow" and "leaves nothing" in caught.value.message


def test_inpaint_denoise_and_respective_field_reach_the_pipeline_and_the_picture(engine, tiny_request):
    default = inpaint(engine, tiny_request)
    light = inpaint(engine, tiny_request, denoise=0.3)
    wide = inpaint(engine, tiny_request, inpaint_context=1.5)
    assert plan_of(engine, default).arguments["strength"] == 1.0  # the default mode's own
    assert plan_of(engine, light).arguments["strength"] == 0.3
    assert plan_of(engine, light).arguments["num_inference_steps"] == 14  # 4 denoising steps of 14
    assert plan_of(engine, replace(light, edit=replace(light.edit, inpaint_mode="improve_detail"))).arguments["strength"] == 0.3
    pixels = {name: np.asarray(run_one(engine, request)) for name, request in
              (("default", default), ("light", light), ("wide", wide))}  # fmt: skip
    assert not np.array_equal(pixels["light"], pixels["default"])
    assert not np.array_equal(pixels["wide"], pixels["default"])
    before = np.asarray(picture())
    for name in ("light", "wide"):
        assert np.array_equal(pixels[name][~WHITE], before[~WHITE]), f"{name}: outside the mask is kept"


def test_respective_field_sets_the_crop(engine, tiny_request):
    """The crop is the mask's box widened by the respective field x its side (then fitted to the picture)."""
    image = picture(128, 128)
    mask = square_mask((128, 128), (56, 56, 72, 72))
    request = edit_request(
        replace(tiny_request, width=128, height=128), kind="inpaint", image=engine.inputs.put(image),
        mask=engine.inputs.put(mask), inpaint_mode="modify_content", mask_grow=0, mask_feather=0,
    )  # fmt: skip
    crops = []
    for context in (0.0, 0.5, 1.5):
        spec = replace(request.edit, inpaint_context=context)
        crops.append(masks.crop_around(masks.repaint_area(mask, image.size, spec), spec.inpaint_context or 0.2, ((64, 64),)))
        plan = plan_of(engine, replace(request, edit=spec))
        assert plan.arguments["image"].size == (64, 64)
    assert [crop.size for crop in crops] == [(22, 22), (32, 32), (64, 64)]


def test_inpaint_prompt_is_added_for_the_repainted_area_and_recorded_folded(engine, tiny_request, store):
    plain = inpaint(engine, tiny_request)
    extra = inpaint(engine, tiny_request, inpaint_prompt="a golden coin")
    made = engine.run(extra).images[0]
    assert made.request.prompt == "a golden coin, a red cube on a table"
    assert made.request.edit.inpaint_prompt == "", "folded into the prompt, so a re-make does not add it twice"
    assert not np.array_equal(np.asarray(made.image), np.asarray(run_one(engine, plain)))
    record = store.save(made.image, made.request)
    again = read_request(record.path)
    assert again == made.request
    assert np.array_equal(np.asarray(run_one(engine, again)), np.asarray(Image.open(record.path).convert("RGB")))


def test_vary_denoise_override_orders_distance(engine, tiny_request):
    """As test_edit's vary test: on the final latents against the input's own (the tiny VAE hides it in pixels)."""
    import torch

    image = picture(seed=3)
    digest = engine.inputs.put(image)
    pipeline = engine.manager.pipeline
    with torch.inference_mode():
        source = pipeline.vae.encode(pipeline.image_processor.preprocess(image)).latent_dist.mean
        source = source * pipeline.vae.config.scaling_factor

    def distance(denoise):
        requests = [
            replace(edit_request(tiny_request, kind="vary", image=digest, denoise=denoise), seed=seed) for seed in (1, 2, 3)
        ]
        return sum(float((run.latents - source).abs().mean()) for run in engine.run_many(requests))

    assert distance(0.15) < distance(0.0) < distance(0.95)  # 0.0 = subtle's own 0.5


def test_upscale_denoise_override_changes_the_refine(engine, tiny_request):
    digest = engine.inputs.put(picture(64, 48))
    default = run_one(engine, edit_request(tiny_request, kind="upscale", image=digest, upscale="1.5"))
    stronger = run_one(engine, edit_request(tiny_request, kind="upscale", image=digest, upscale="1.5", denoise=0.9))
    assert default.size == stronger.size == (96, 72)
    assert np.abs(np.asarray(stronger).astype(int) - np.asarray(default)).mean() > 1
    with pytest.raises(InvalidRequest) as caught:
        EditSpec(kind="upscale", image="a" * 64, upscale="fast2", denoise=0.5).check()
    assert caught.value.field == "edit.denoise"


@pytest.mark.parametrize(
    "controls, field",
    [
        ({"mask_invert": True}, "edit.mask_invert"),
        ({"inpaint_context": 0.5}, "edit.inpaint_context"),
        ({"inpaint_prompt": "x"}, "edit.inpaint_prompt"),
        ({"mask_grow": -2}, "edit.mask_grow"),
    ],
)
def test_inpaint_controls_are_refused_on_other_tools(controls, field):
    with pytest.raises(InvalidRequest) as caught:
        EditSpec(kind="vary", image="a" * 64, **controls).check()
    assert caught.value.field == field and "inpaint only" in caught.value.message


@pytest.mark.parametrize(
    "edit, field",
    [
        ({"denoise": 1.5}, "edit.denoise"),
        ({"inpaint_context": -0.1}, "edit.inpaint_context"),
        ({"mask_grow": -300}, "edit.mask_grow"),
        ({"mask_invert": 1}, "edit.mask_invert"),
        ({"inpaint_prompt": "x" * 4001}, "edit.inpaint_prompt"),
    ],
)
def test_control_limits_name_the_field(edit, field):
    data = {"kind": "inpaint", "image": "a" * 64, "mask": "b" * 64, **edit}
    with pytest.raises(InvalidRequest) as caught:
        EditSpec.from_dict(data)
    assert caught.value.field == field


def test_all_white_mask_inverted_is_refused(engine, tiny_request):
    request = inpaint(engine, tiny_request, mask_invert=True)
    request = replace(request, edit=replace(request.edit, mask=engine.inputs.put(Image.new("L", (64, 64), 255))))
    with pytest.raises(InvalidRequest) as caught:
        engine.run(request)
    assert caught.value.field == "edit.mask" and "inverted" in caught.value.message


def test_controls_round_trip_the_metadata_and_old_pngs_remake_byte_for_byte(engine, tiny_request, store):
    request = inpaint(engine, tiny_request, mask_invert=True, mask_grow=-2, denoise=0.6, inpaint_context=0.4)
    made = engine.run(request).images[0]
    assert parse_studio_metadata(studio_metadata(made.request)) == made.request
    record = store.save(made.image, made.request)
    assert np.array_equal(np.asarray(run_one(engine, read_request(record.path))), np.asarray(made.image))
    # an image made before these fields existed: its metadata lacks them, and it re-makes exactly
    neutral = engine.run(inpaint(engine, tiny_request)).images[0]
    data = json.loads(studio_metadata(neutral.request))
    for name in ("mask_invert", "denoise", "inpaint_context", "inpaint_prompt"):
        del data["request"]["edit"][name]
    for name in ("disable_seed_increment", "wildcards_in_order"):
        del data["request"][name]
    old = parse_studio_metadata(json.dumps(data))
    assert old == neutral.request
    assert np.array_equal(np.asarray(run_one(engine, old)), np.asarray(neutral.image))


def test_cli_inpaint_controls_are_recorded(models_dir, tmp_path):
    from studio.cli import main

    picture().save(tmp_path / "in.png")
    square_mask().save(tmp_path / "mask.png")
    common = ["--model", "tiny", "--models-dir", str(models_dir), "--device", "cpu", "--out", str(tmp_path / "out"),
              "--steps", "2", "--seed", "1", "--sampler", "Euler", "--prompt", "stone"]  # fmt: skip
    controls = ["--mask-invert", "--mask-grow", "-2", "--denoise", "0.5", "--respective-field", "0.3", "--inpaint-prompt", "moss"]
    assert main(["generate", *common, "--inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), *controls]) == 0
    [saved] = (tmp_path / "out").glob("*/*.png")
    request = read_request(saved)
    assert request.prompt == "moss, stone"
    assert (request.edit.mask_invert, request.edit.mask_grow, request.edit.denoise, request.edit.inpaint_context) == (True, -2, 0.5, 0.3)
    assert main(["generate", *common, "--vary", "subtle", "--image", str(tmp_path / "in.png"), "--mask-invert"]) == 2
