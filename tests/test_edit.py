"""Input-image tools on the tiny model: inpaint, outpaint, vary, upscale, describe; bad masks; metadata; CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from studio.edit import masks
from studio.inputs import decode_image
from studio.types import EditSpec, GenerationRequest, InvalidRequest


def picture(width=64, height=64, seed=0) -> Image.Image:
    """A smooth gradient with a few flat shapes: structure the tools must keep or continue."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 200 + 30, y / height * 180 + 40, (x + y) / (width + height) * 120 + 60], axis=-1)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        x0, y0 = rng.integers(0, width - 12), rng.integers(0, height - 12)
        rgb[y0 : y0 + 10, x0 : x0 + 10] = rng.integers(0, 255, 3)
    return Image.fromarray(rgb.astype(np.uint8))


def square_mask(size=(64, 64), box=(24, 20, 40, 36)) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


@pytest.fixture(scope="module")
def engine(tiny_services):
    return tiny_services.engine


def edit_request(tiny_request, **edit) -> GenerationRequest:
    return replace(tiny_request, steps=4, edit=EditSpec(**edit))


def run_one(engine, request) -> Image.Image:
    result = engine.run(request)
    assert len(result.images) == 1
    return result.images[0].image


def test_inpaint_changes_only_the_grown_mask(engine, tiny_request):
    image, mask = picture(), square_mask()
    request = edit_request(
        tiny_request,
        kind="inpaint",
        image=engine.inputs.put(image),
        mask=engine.inputs.put(mask),
        mask_grow=4,
        mask_feather=4,
    )
    out = run_one(engine, request)
    assert out.size == image.size
    grown = masks.grow(np.asarray(mask) > 127, 4)
    before, after = np.asarray(image), np.asarray(out)
    assert np.array_equal(before[~grown], after[~grown])  # byte-identical outside the grown mask
    assert np.abs(before[grown].astype(int) - after[grown]).mean() > 1  # and repainted inside


@pytest.mark.parametrize("mode", ["improve_detail", "modify_content"])
def test_inpaint_modes_keep_outside(engine, tiny_request, mode):
    image, mask = picture(80, 64, seed=2), square_mask((80, 64), (50, 10, 70, 30))
    request = edit_request(
        tiny_request,
        kind="inpaint",
        image=engine.inputs.put(image),
        mask=engine.inputs.put(mask),
        inpaint_mode=mode,
        mask_grow=2,
        mask_feather=0,
    )
    out = np.asarray(run_one(engine, request))
    grown = masks.grow(np.asarray(mask) > 127, 2)
    assert out.shape == (64, 80, 3) and np.array_equal(np.asarray(image)[~grown], out[~grown])


@pytest.mark.parametrize(
    "sides, size",
    [
        (("left",), (83, 64)),
        (("right",), (83, 64)),
        (("top",), (64, 83)),
        (("bottom",), (64, 83)),
        (("left", "right", "top", "bottom"), (102, 102)),
    ],
)
def test_outpaint_sizes_and_kept_picture(engine, tiny_request, sides, size):
    image = picture()
    request = edit_request(
        tiny_request, kind="outpaint", image=engine.inputs.put(image), outpaint_sides=sides, mask_grow=4
    )
    out = run_one(engine, request)
    assert out.size == size
    left = size[0] - 64 if sides == ("left",) else (19 if "left" in sides else 0)
    top = size[1] - 64 if sides == ("top",) else (19 if "top" in sides else 0)
    kept = np.asarray(out)[top : top + 64, left : left + 64]
    inner = np.zeros((64, 64), bool)
    inner[
        4 if "top" in sides else 0 : 60 if "bottom" in sides else 64,
        4 if "left" in sides else 0 : 60 if "right" in sides else 64,
    ] = True
    assert np.array_equal(kept[inner], np.asarray(image)[inner])  # the picture is untouched past the seam band


def test_outpaint_right_twice_feeds_back(engine, tiny_request):
    first = run_one(
        engine,
        edit_request(tiny_request, kind="outpaint", image=engine.inputs.put(picture()), outpaint_sides=("right",)),
    )
    second = run_one(
        engine, edit_request(tiny_request, kind="outpaint", image=engine.inputs.put(first), outpaint_sides=("right",))
    )
    assert first.size == (83, 64) and second.size == (108, 64)
    assert np.array_equal(np.asarray(second)[:, :75], np.asarray(first)[:, :75])


def test_vary_strength_orders_distance(engine, tiny_request):
    """Measured on the final latents against the input's own latents: the tiny VAE's random decoder would
    hide the distance in pixels, the denoiser's departure from the input is what strength sets."""
    import torch

    image = picture(seed=3)
    digest = engine.inputs.put(image)
    pipeline = engine.manager.pipeline
    with torch.inference_mode():
        pixels = pipeline.image_processor.preprocess(image)
        source = pipeline.vae.encode(pixels).latent_dist.mean * pipeline.vae.config.scaling_factor

    def distance(strength):
        requests = [
            replace(edit_request(tiny_request, kind="vary", image=digest, vary_strength=strength), seed=seed)
            for seed in (1, 2, 3)
        ]
        runs = engine.run_many(requests)
        assert all(run.generated.image.size == image.size for run in runs)
        return sum(float((run.latents - source).abs().mean()) for run in runs)

    assert distance("subtle") < distance("strong")


@pytest.mark.parametrize("mode, size", [("fast2", (128, 96)), ("1.5", (96, 72)), ("2", (128, 96))])
def test_upscale_sizes(engine, tiny_request, mode, size):
    request = edit_request(tiny_request, kind="upscale", image=engine.inputs.put(picture(64, 48)), upscale=mode)
    result = engine.run(request)
    assert result.images[0].image.size == size
    assert (result.images[0].request.width, result.images[0].request.height) == size


def test_upscale_refine_leaves_no_seams():
    """Tiles that drift in brightness (as a refine can) must not leave a border brighter or darker than
    the interior next to it."""
    from studio.edit.upscale import refine_tiles

    flat = Image.fromarray(np.full((160, 224, 3), 128, np.uint8))
    calls = []

    def drifting(tile):
        calls.append(tile.size)
        return Image.fromarray(
            np.clip(np.asarray(tile, np.int16) + (len(calls) % 3) * 20 - 20, 0, 255).astype(np.uint8)
        )

    out = np.asarray(refine_tiles(flat, (64, 64), 4, drifting), dtype=np.float32).mean(axis=2)
    assert len(calls) > 4
    assert np.abs(out - 128).max() <= 1.0  # every tile's mean is matched to its source: no square shows


def test_upscale_refine_blends_tile_borders(engine, tiny_request):
    request = edit_request(tiny_request, kind="upscale", image=engine.inputs.put(picture(64, 64, seed=5)), upscale="2")
    out = np.asarray(run_one(engine, request), dtype=np.float32).mean(axis=2)
    columns, rows = out.mean(axis=0), out.mean(axis=1)
    for profile in (columns, rows):  # tile borders of a 128 picture in 64-pixel tiles: 32, 64, 96 region
        steps = np.abs(np.diff(profile))
        assert steps.max() < 12 + 3 * np.median(steps)


def test_too_large_upscale_is_refused(engine, tiny_request):
    big = picture(2100, 16)
    request = edit_request(tiny_request, kind="upscale", image=engine.inputs.put(big), upscale="2")
    with pytest.raises(InvalidRequest, match="4096") as caught:
        engine.run(request)
    assert caught.value.field == "edit.upscale"


def test_describe_returns_text_in_each_style(engine):
    photo = engine.edit_models.describe(picture(), "photo")
    illustration = engine.edit_models.describe(picture(), "illustration")
    assert photo.strip() and "photograph" in photo
    assert illustration.strip() and "illustration" in illustration and photo != illustration


def test_registry_models_load_from_a_local_copy(tmp_path):
    """The real-model path: files pre-placed in <models-dir>/registry/<org--repo>/ load with the same code."""
    from studio import registry, tiny
    from studio.edit.tools import EditModels
    from studio.models import PipelineManager
    from studio.settings import Settings

    root = tmp_path / "registry"
    tiny.save_tiny_upscaler(
        root / registry.UPSCALER_4X.repo_id.replace("/", "--") / registry.UPSCALER_4X.allow_patterns[0]
    )
    tiny.save_tiny_captioner(root / registry.CAPTIONER.repo_id.replace("/", "--"))
    models = EditModels(PipelineManager(Settings(models_dir=tmp_path, device="cpu")), random_weights=False)
    assert models.upscaler().scale == 4
    assert models.describe(picture()).strip()


def test_bad_masks_are_named(engine, tiny_request):
    image = engine.inputs.put(picture())

    def attempt(mask):
        request = edit_request(tiny_request, kind="inpaint", image=image, mask=engine.inputs.put(mask))
        with pytest.raises(InvalidRequest) as caught:
            engine.run(request)
        assert caught.value.field == "edit.mask"
        return caught.value.message

    assert "must be the image's size" in attempt(square_mask((32, 32), (4, 4, 8, 8)))
    assert "empty" in attempt(Image.new("L", (64, 64), 0))
    assert "whole image" in attempt(Image.new("L", (64, 64), 255))
    with pytest.raises(InvalidRequest) as caught:
        decode_image(b"this is not a picture", "edit.mask")
    assert caught.value.field == "edit.mask" and "not a readable image" in caught.value.message


def test_edit_spec_validation_names_fields():
    cases = [
        ({"kind": "inpaint", "image": "a" * 64}, "edit.mask"),
        ({"kind": "outpaint", "image": "a" * 64, "outpaint_sides": ("middle",)}, "edit.outpaint_sides"),
        ({"kind": "vary", "image": "a" * 64, "vary_strength": "wild"}, "edit.vary_strength"),
        ({"kind": "upscale", "image": "a" * 64, "upscale": "8"}, "edit.upscale"),
        ({"kind": "vary", "image": ""}, "edit.image"),
        ({"kind": "crop", "image": "a" * 64}, "edit.kind"),
        ({"kind": "inpaint", "image": "a" * 64, "mask": "b" * 64, "mask_grow": 999}, "edit.mask_grow"),
    ]
    for values, field in cases:
        with pytest.raises(InvalidRequest) as caught:
            EditSpec(**values).check()
        assert caught.value.field == field
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.from_dict({"edit": {"kind": "vary", "image": "a" * 64, "colour": 1}})
    assert caught.value.field == "edit.colour"
    spec = EditSpec(kind="outpaint", image="a" * 64, outpaint_sides=("left", "top"))
    assert GenerationRequest.from_dict(json.loads(json.dumps(GenerationRequest(edit=spec).to_dict()))).edit == spec
    assert GenerationRequest.from_dict({"edit": None}).edit is None


def test_saved_edit_metadata_remakes_the_pixels(engine, tiny_request, store):
    from studio.outputs import read_request

    request = edit_request(
        tiny_request, kind="inpaint", image=engine.inputs.put(picture()), mask=engine.inputs.put(square_mask())
    )
    generated = engine.run(request).images[0]
    record = store.save(generated.image, generated.request)
    again = read_request(record.path)
    assert again.edit == replace(request.edit, inpaint_model="base") and (again.width, again.height) == (64, 64)
    assert np.array_equal(np.asarray(run_one(engine, again)), np.asarray(Image.open(record.path).convert("RGB")))


def test_cli_inpaint_and_outpaint(models_dir, tmp_path):
    from studio.cli import main

    picture().save(tmp_path / "in.png")
    square_mask().save(tmp_path / "mask.png")
    common = [
        "--model",
        "tiny",
        "--models-dir",
        str(models_dir),
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "out"),
        "--steps",
        "2",
        "--seed",
        "1",
        "--sampler",
        "Euler",
    ]
    for extra, size in (
        (
            [
                "--inpaint",
                str(tmp_path / "in.png"),
                "--mask",
                str(tmp_path / "mask.png"),
                "--inpaint-mode",
                "improve_detail",
            ],
            (64, 64),
        ),
        (["--outpaint", "left,right", "--image", str(tmp_path / "in.png")], (102, 64)),
    ):
        assert main(["generate", *common, *extra]) == 0
        saved = max((tmp_path / "out").glob("*/*.png"), key=lambda p: p.stat().st_mtime_ns)
        assert Image.open(saved).size == size
    assert main(["generate", *common, "--mask", str(tmp_path / "mask.png")]) == 2  # a mask without --inpaint


def test_cli_describe(models_dir, tmp_path, capsys):
    from studio.cli import main

    picture().save(tmp_path / "in.png")
    assert (
        main(
            [
                "describe",
                str(tmp_path / "in.png"),
                "--model",
                "tiny",
                "--models-dir",
                str(models_dir),
                "--device",
                "cpu",
                "--style",
                "illustration",
            ]
        )
        == 0
    )
    assert "illustration" in capsys.readouterr().out
