"""The dedicated inpainting UNet (`--inpaint-model`) on a tiny 9-channel UNet, and VAE tiling for large decodes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from studio.edit import masks
from studio.edit.inpaint_model import BASE, load_inpaint_unet
from studio.models import ModelUnavailable, UnsafeCheckpoint
from studio.types import EditSpec, InvalidRequest
from tests.test_edit import picture, run_one, square_mask


@pytest.fixture(scope="module")
def inpaint_folder(models_dir):
    from studio import tiny

    folder = models_dir / "tiny-inpaint-test"
    return folder if tiny.is_tiny_folder(folder) else tiny.save_tiny_inpaint_unet(folder)


@pytest.fixture(scope="module")
def inpaint_services(models_dir, inpaint_folder, tmp_path_factory):
    """A tiny studio started with `--inpaint-model <tiny 9-channel UNet folder>`."""
    from studio.services import build_services
    from studio.settings import Settings

    settings = Settings(
        model="tiny",
        models_dir=models_dir,
        output_dir=tmp_path_factory.mktemp("inpaint-outputs"),
        device="cpu",
        inpaint_model=str(inpaint_folder),
    )
    return build_services(settings)


def inpaint_request(engine, tiny_request, **edit):
    image, mask = picture(), square_mask()
    spec = EditSpec(kind="inpaint", image=engine.inputs.put(image), mask=engine.inputs.put(mask), mask_grow=4, **edit)
    return replace(tiny_request, steps=4, edit=spec), image, masks.grow(np.asarray(mask) > 127, 4)


def test_inpainting_unet_is_used_keeps_outside_and_shares_the_base(
    inpaint_services, tiny_services, tiny_request, inpaint_folder
):
    engine, manager = inpaint_services.engine, inpaint_services.manager
    base_unet = manager.pipeline.unet
    base_weight = base_unet.conv_in.weight.detach().clone()
    assert manager._inpaint_unet is None  # loaded on first use, not at start

    request, image, grown = inpaint_request(engine, tiny_request)
    result = engine.run(request).images[0]
    with_unet = np.asarray(result.image)
    assert result.request.edit.inpaint_model == inpaint_folder.name  # recorded for the metadata
    before = np.asarray(image)
    assert np.array_equal(before[~grown], with_unet[~grown])  # byte-identical outside the grown mask
    assert np.abs(before[grown].astype(int) - with_unet[grown]).mean() > 1

    # The base model's own result (a studio without --inpaint-model) differs inside the mask ...
    base_request, _, _ = inpaint_request(tiny_services.engine, tiny_request)
    base_result = tiny_services.engine.run(base_request).images[0]
    assert base_result.request.edit.inpaint_model == BASE
    assert np.abs(np.asarray(base_result.image)[grown].astype(int) - with_unet[grown]).mean() > 1
    # ... and is what 'base' re-makes on the studio that has the inpainting model.
    assert np.array_equal(
        run_one(engine, replace(request, edit=replace(request.edit, inpaint_model=BASE))), base_result.image
    )

    inpaint_unet = manager.inpaint_unet()
    assert inpaint_unet.config.in_channels == 9 and inpaint_unet is not base_unet
    assert manager.pipeline_for("inpaint", (), inpaint_unet).unet is inpaint_unet
    assert manager.pipeline_for("inpaint", (), inpaint_unet).vae is manager.pipeline.vae  # shared, not reloaded
    assert manager.pipeline.unet is base_unet and base_unet.config.in_channels == 4  # the base is untouched
    assert torch.equal(base_unet.conv_in.weight, base_weight)
    run_one(engine, request)
    assert manager.inpaint_unet() is inpaint_unet  # loaded once, kept resident


def test_inpainting_unet_outpaints(inpaint_services, tiny_request, inpaint_folder):
    engine = inpaint_services.engine
    spec = EditSpec(kind="outpaint", image=engine.inputs.put(picture()), outpaint_sides=("right",))
    result = engine.run(replace(tiny_request, steps=2, edit=spec)).images[0]
    assert result.image.size == (83, 64) and result.request.edit.inpaint_model == inpaint_folder.name
    assert np.array_equal(np.asarray(result.image)[:, :64][:, :40], np.asarray(picture())[:, :40])


def test_inpaint_metadata_remakes_with_the_inpainting_unet(inpaint_services, tiny_services, tiny_request, store):
    from studio.outputs import read_request

    engine = inpaint_services.engine
    request, _, _ = inpaint_request(engine, tiny_request)
    generated = engine.run(request).images[0]
    record = store.save(generated.image, generated.request)
    again = read_request(record.path)
    assert again.edit.inpaint_model == generated.request.edit.inpaint_model != BASE
    assert np.array_equal(np.asarray(run_one(engine, again)), np.asarray(Image.open(record.path).convert("RGB")))
    # A studio without that inpainting model says what to start it with instead of silently using another.
    with pytest.raises(InvalidRequest) as caught:
        tiny_services.engine.run(
            replace(
                again,
                edit=replace(
                    again.edit,
                    image=tiny_services.engine.inputs.put(picture()),
                    mask=tiny_services.engine.inputs.put(square_mask()),
                ),
            )
        )
    assert caught.value.field == "edit.inpaint_model" and "--inpaint-model" in str(caught.value)


def test_only_inpaint_and_outpaint_take_an_inpainting_model(tiny_services, tiny_request):
    engine = tiny_services.engine
    spec = EditSpec(kind="vary", image=engine.inputs.put(picture()), inpaint_model="x")
    with pytest.raises(InvalidRequest) as caught:
        engine.run(replace(tiny_request, edit=spec))
    assert caught.value.field == "edit.inpaint_model"


def test_unavailable_inpaint_models_name_the_option(tiny_services, tmp_path):
    from studio import tiny

    manager = tiny_services.manager
    sources = {
        str(tmp_path / "missing"): "no such file",
        "diffusers/stable-diffusion-xl-1.0-inpainting-0.1": "hub",  # offline in tests
        str(tiny.ensure_tiny_folder(manager.settings.models_dir / "tiny-sdxl")): "9",  # a 4-channel UNet
    }
    for source, words in sources.items():
        with pytest.raises(ModelUnavailable) as caught:
            load_inpaint_unet(manager, source)
        assert "--inpaint-model" in str(caught.value) and words in str(caught.value)
    (tmp_path / "inpaint.ckpt").write_bytes(b"pickle")
    with pytest.raises(UnsafeCheckpoint):
        load_inpaint_unet(manager, str(tmp_path / "inpaint.ckpt"))


def test_inpaint_unet_from_a_single_file(tiny_services, tmp_path):
    from safetensors.torch import save_file

    from studio import tiny
    from studio.single_file import UNET_PREFIX, convert_unet_to_original

    unet = tiny.build_tiny_inpaint_unet()
    state = {k: v.contiguous() for k, v in unet.state_dict().items()}
    save_file(state, str(tmp_path / "diffusers-keys.safetensors"), metadata={"studio_tiny": "1"})
    original = convert_unet_to_original(state, unet.config.layers_per_block)
    save_file(
        {UNET_PREFIX + k: v.contiguous() for k, v in original.items()},
        str(tmp_path / "sgm.safetensors"),
        metadata={"studio_tiny": "1"},
    )
    for name in ("diffusers-keys.safetensors", "sgm.safetensors"):
        loaded = load_inpaint_unet(tiny_services.manager, str(tmp_path / name))
        assert loaded.config.in_channels == 9
        assert torch.equal(loaded.conv_in.weight, unet.conv_in.weight), name


def test_cli_inpaint_model_option(models_dir, tmp_path):
    from studio.cli import main
    from studio.outputs import read_request

    picture().save(tmp_path / "in.png")
    square_mask().save(tmp_path / "mask.png")
    args = [
        "generate",
        "--model",
        "tiny",
        "--inpaint-model",
        "tiny",
        "--models-dir",
        str(models_dir),
        "--device",
        "cpu",
    ]
    args += ["--out", str(tmp_path / "out"), "--steps", "2", "--seed", "1", "--sampler", "Euler"]
    assert main([*args, "--inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png")]) == 0
    saved = next((tmp_path / "out").glob("*/*.png"))
    assert read_request(saved).edit.inpaint_model == "tiny"
    missing = [
        str(tmp_path / "nope") if a == "tiny" and args[i - 1] == "--inpaint-model" else a for i, a in enumerate(args)
    ]
    assert main([*missing, "--inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png")]) == 2


def test_app_takes_the_inpaint_model_option():
    from app import parse_settings

    assert parse_settings(
        ["--inpaint-model", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"]
    ).inpaint_model.startswith("diffusers/")
    assert parse_settings([]).inpaint_model == ""


# --- VAE tiling -------------------------------------------------------------------------------------------


def smooth_latents(pipeline, size: int) -> torch.Tensor:
    """Latents of a smooth picture (what a real decode sees), encoded by the tiny VAE."""
    image = picture(size, size, seed=4).resize((size, size))
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.inference_mode():
        return pipeline.vae.encode(tensor).latent_dist.mean * pipeline.vae.config.scaling_factor


def test_large_decodes_are_tiled_close_to_whole_and_seamless(tiny_services):
    from studio.decode import decode_latents

    pipeline = tiny_services.manager.pipeline
    vae = pipeline.vae
    latents = smooth_latents(pipeline, 512)  # 256x256 latents, 4x the tiny VAE's 64-latent tile side
    assert latents.shape[-1] > vae.tile_latent_min_size * 2
    calls = []
    original = vae.tiled_decode
    vae.tiled_decode = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        whole = np.asarray(decode_latents(pipeline, latents)[0], dtype=np.float32)
        assert not calls and not vae.use_tiling
        tiled = np.asarray(decode_latents(pipeline, latents, tiling_pixels=256 * 256)[0], dtype=np.float32)
        assert calls and not vae.use_tiling  # tiled, and the VAE's setting restored
    finally:
        del vae.tiled_decode
    assert tiled.shape == whole.shape == (512, 512, 3) and np.isfinite(tiled).all()
    difference = np.abs(tiled - whole)
    # Random weights make the tiny VAE's GroupNorm statistics and mid-block attention (whole-picture
    # operations) differ between a tile and the picture far more than a trained VAE's do: about 14/255 here;
    # test_tiled_decode_of_a_local_vae_matches_the_whole_one checks closeness where only tiling can differ.
    assert difference.mean() < 0.1 * 255, difference.mean()
    # No seam: along the tile borders the tiled picture is no further from the whole decode than elsewhere.
    stride = (vae.tile_latent_min_size - int(vae.tile_latent_min_size * vae.tile_overlap_factor)) * 2
    borders = [b for b in range(stride, 512, stride)]
    near = np.zeros(512, dtype=bool)
    for border in borders:
        near[max(0, border - 4) : border + 4] = True
    for axis_diff in (difference.mean(axis=(0, 2)), difference.mean(axis=(1, 2))):
        assert axis_diff[near].mean() < axis_diff[~near].mean() * 1.5 + 1.0
    # Steps between neighbouring rows/columns at the tile borders are no sharper than inside the tiles.
    for axis, other in ((0, (1, 2)), (1, (0, 2))):
        jump = np.abs(np.diff(tiled, axis=axis)).mean(axis=other)
        assert jump[near[:-1]].mean() < jump[~near[:-1]].mean() * 1.25 + 1.0


def test_tiled_decode_of_a_local_vae_matches_the_whole_one(tiny_services):
    """The tiny VAE's decoder without its whole-picture operations (GroupNorm, mid-block attention): what is
    left is local, so a tiled decode must match the whole one but for the tiles' blended borders."""
    import copy
    from types import SimpleNamespace

    from studio.decode import decode_latents

    class Skip(torch.nn.Module):
        def forward(self, hidden, *args, **kwargs):
            return hidden

    pipeline = tiny_services.manager.pipeline
    latents = smooth_latents(pipeline, 512)
    vae = copy.deepcopy(pipeline.vae)
    for module in list(vae.decoder.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.GroupNorm):
                setattr(module, name, torch.nn.Identity())
    vae.decoder.mid_block.attentions = torch.nn.ModuleList([Skip() for _ in vae.decoder.mid_block.attentions])
    local = SimpleNamespace(
        vae=vae, vae_scale_factor=pipeline.vae_scale_factor, image_processor=pipeline.image_processor
    )
    whole = np.asarray(decode_latents(local, latents)[0], dtype=np.float32)
    tiled = np.asarray(decode_latents(local, latents, tiling_pixels=0)[0], dtype=np.float32)
    spread = np.abs(whole - whole.mean(axis=(0, 1))).mean()
    assert spread > 0.5  # the picture is not flat
    assert np.abs(tiled - whole).mean() < 0.05 * spread
    assert np.abs(tiled - whole).max() <= 2


def test_memory_plan_tiling_stays_on(tiny_services):
    from studio.decode import decode_latents

    pipeline = tiny_services.manager.pipeline
    latents = smooth_latents(pipeline, 64)
    pipeline.vae.enable_tiling()  # as the low-VRAM plans set it
    try:
        decode_latents(pipeline, latents, tiling_pixels=0)
        assert pipeline.vae.use_tiling
    finally:
        pipeline.vae.disable_tiling()
