"""The dedicated inpainting UNet (`--inpaint-model`) on a tiny 9-channel UNet, LoRAs on it, and VAE tiling for
large decodes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from studio.control.stage import ImagePromptStage
from studio.edit import masks
from studio.edit.inpaint_model import BASE, load_inpaint_unet
from studio.models import ModelUnavailable, UnsafeCheckpoint
from studio.performance_policy import FastPath, is_fused
from studio.registry import LIGHTNING_LORA_SDXL
from studio.types import EditSpec, GenerationRequest, ImagePrompt, InvalidRequest, LoraWeight
from tests.test_edit import picture, run_one, square_mask

LIGHTNING_FILE = LIGHTNING_LORA_SDXL.allow_patterns[0]


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


def test_image_prompts_steer_an_inpaint_on_the_inpainting_unet(inpaint_services, tiny_request):
    """The IP-Adapters are loaded into the UNet the image samples with: an ImagePrompt slot changes an inpaint
    on the inpainting UNet (it used to be fed to a UNet without adapters and silently ignored), is repeatable,
    and leaves that UNet plain again for the next inpaint without one."""
    engine, manager = inpaint_services.engine, inpaint_services.manager
    request, image, grown = inpaint_request(engine, tiny_request)
    plain = np.asarray(run_one(engine, request))
    steer = engine.inputs.put(Image.new("RGB", (64, 64), (250, 30, 30)))
    steered_request = replace(request, image_prompts=(ImagePrompt.of(steer, "ImagePrompt", weight=2.0, stop_at=1.0),))
    steered = np.asarray(run_one(engine, steered_request))
    assert np.abs(steered[grown].astype(int) - plain[grown]).mean() > 0.5
    assert np.array_equal(steered[~grown], np.asarray(image)[~grown])
    assert np.array_equal(np.asarray(run_one(engine, steered_request)), steered)
    stage = next(stage for stage in engine.stages if isinstance(stage, ImagePromptStage))
    assert manager.inpaint_unet() in stage.adapters.unets
    assert np.array_equal(np.asarray(run_one(engine, request)), plain)


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


# --- LoRAs on the inpainting UNet --------------------------------------------------------------------------

LORA_ON_CPU_TOO = FastPath(devices=("cuda", "cpu"), channels_last=False, warmup=False)


def lora_inpaint(engine, performance="Speed", loras=(), inpaint_model=""):
    """The same small inpaint each time (4 steps at 64x64), with `loras` as (name, weight) pairs."""
    spec = EditSpec(
        kind="inpaint",
        image=engine.inputs.put(picture()),
        mask=engine.inputs.put(square_mask()),
        mask_grow=4,
        inpaint_model=inpaint_model,
    )
    return GenerationRequest(
        prompt="a red cube on a table", seed=7, width=64, height=64, steps=4, cfg_scale=5.0, sampler="Euler",
        model="tiny", performance=performance, loras=tuple(LoraWeight(n, w) for n, w in loras), edit=spec,
    )  # fmt: skip


@pytest.fixture(scope="module")
def lora_models(tmp_path_factory):
    """A models folder of this module's own (its LoRAs are listed nowhere else) with tiny LoRAs: diffusers and
    kohya keys, one with text-encoder weights, the Lightning speed LoRA, and one with conv_in weights that fit
    the base UNet's 4 input channels but not the inpainting UNet's 9."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from studio import tiny

    models = tmp_path_factory.mktemp("inpaint-lora-models")
    folder = models / "loras"
    tiny.save_tiny_lora(folder / "unet-only.safetensors", seed=11)
    tiny.save_tiny_lora(folder / "kohya.safetensors", seed=12, kohya=True)
    tiny.save_tiny_lora(folder / "with-text.safetensors", seed=13, text_encoder=True)
    tiny.save_tiny_lora(models / "registry" / LIGHTNING_LORA_SDXL.repo_id.replace("/", "--") / LIGHTNING_FILE, seed=14)
    pipeline = tiny.build_tiny_sdxl()
    torch.manual_seed(15)
    pipeline.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["conv_in", "to_q"])
    )
    pipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(pipeline.unet), weight_name="conv-in.safetensors"
    )
    return models


@pytest.fixture(scope="module")
def lora_studio(lora_models, tmp_path_factory):
    """`--model tiny --inpaint-model tiny`, and its plain inpaint made before any LoRA was loaded."""
    from studio.services import build_services
    from studio.settings import Settings

    outputs = tmp_path_factory.mktemp("inpaint-lora-outputs")
    settings = Settings(model="tiny", models_dir=lora_models, output_dir=outputs, device="cpu", inpaint_model="tiny")
    services = build_services(settings)
    return services, np.asarray(run_one(services.engine, lora_inpaint(services.engine)))


def repainted(image) -> np.ndarray:
    """The pixels `lora_inpaint` repaints (inside its grown mask), as ints."""
    return np.asarray(image).astype(int)[grown_mask()]


def grown_mask() -> np.ndarray:
    return masks.grow(np.asarray(square_mask()) > 127, 4)


def test_loras_act_on_the_inpainting_unet_by_weight_and_leave_it_exactly_plain(lora_studio):
    services, plain = lora_studio
    engine, manager = services.engine, services.manager
    assert manager.pipeline_for("inpaint", (), manager.inpaint_unet()).unet is manager.inpaint_unet()

    # Only UNet weights here, and the base UNet is not sampled with: any change is the inpainting UNet's.
    full = run_one(engine, lora_inpaint(engine, loras=[("unet-only", 1.0)]))
    half = run_one(engine, lora_inpaint(engine, loras=[("unet-only", 0.5)]))
    assert np.abs(repainted(full) - repainted(plain)).mean() > 1, "the LoRA must change the repainted region"
    assert np.abs(repainted(half) - repainted(plain)).mean() > 0.5
    assert np.abs(repainted(half) - repainted(full)).mean() > 0.5, "the weight must matter"
    outside = ~grown_mask()
    assert np.array_equal(np.asarray(full)[outside], plain[outside])  # the input, pasted back

    for name in ("kohya", "with-text"):
        with_lora = run_one(engine, lora_inpaint(engine, loras=[(name, 1.0)]))
        assert np.abs(repainted(with_lora) - repainted(plain)).mean() > 1, name
    # Text-encoder parts act through the shared encoders, loaded once (a second load would clash on the name).
    assert len(manager.pipeline.text_encoder.peft_config) == 1

    two = run_one(engine, lora_inpaint(engine, loras=[("unet-only", 0.5), ("kohya", 0.7)]))
    assert np.abs(repainted(two) - repainted(half)).mean() > 0.5
    assert np.array_equal(np.asarray(run_one(engine, lora_inpaint(engine))), plain), "no LoRA: exactly the plain UNet"
    assert np.array_equal(np.asarray(run_one(engine, lora_inpaint(engine, loras=[("unet-only", 0.0)]))), plain)
    assert np.array_equal(np.asarray(run_one(engine, lora_inpaint(engine, loras=[("unet-only", 1.0)]))), full)


def test_speed_lora_acts_on_the_inpainting_unet(lora_studio):
    services, _ = lora_studio
    engine = services.engine
    lightning = engine.run(lora_inpaint(engine, performance="Lightning")).images[0]
    assert lightning.request.steps == 4 and lightning.request.sampler == "Euler trailing"
    same_without_lora = replace(
        lora_inpaint(engine), steps=4, cfg_scale=lightning.request.cfg_scale, sampler="Euler trailing"
    )
    difference = repainted(lightning.image) - repainted(run_one(engine, same_without_lora))
    assert np.abs(difference).mean() > 1


def test_inpaint_with_loras_remakes_from_its_metadata(lora_studio, store):
    from studio.outputs import read_request

    services, plain = lora_studio
    engine = services.engine
    generated = engine.run(lora_inpaint(engine, performance="Lightning", loras=[("kohya", 0.6)])).images[0]
    record = store.save(generated.image, generated.request)
    assert np.array_equal(np.asarray(run_one(engine, lora_inpaint(engine))), plain)  # other adapters in between
    again = read_request(record.path)
    assert again.loras == (LoraWeight("kohya", 0.6),) and again.edit.inpaint_model == "tiny"
    assert np.array_equal(np.asarray(run_one(engine, again)), np.asarray(Image.open(record.path).convert("RGB")))


def test_a_lora_that_does_not_fit_the_inpainting_unet_is_refused(lora_studio):
    services, plain = lora_studio
    engine = services.engine
    with pytest.raises(InvalidRequest) as caught:
        engine.run(lora_inpaint(engine, loras=[("conv-in", 1.0)]))
    assert caught.value.field == "loras" and "conv-in" in str(caught.value) and "inpainting UNet" in str(caught.value)
    run_one(engine, lora_inpaint(engine, loras=[("conv-in", 1.0)], inpaint_model=BASE))  # fits the base UNet
    assert np.array_equal(np.asarray(run_one(engine, lora_inpaint(engine))), plain)


def test_fast_path_unfuses_the_inpainting_unet_while_a_lora_is_active(lora_studio, lora_models, tmp_path):
    from studio.services import build_services
    from studio.settings import Settings

    services, _ = lora_studio
    settings = Settings(
        model="tiny", models_dir=lora_models, output_dir=tmp_path, device="cpu", inpaint_model="tiny",
        fast_path=LORA_ON_CPU_TOO,
    )  # fmt: skip
    fast = build_services(settings).engine
    plain = np.asarray(run_one(fast, lora_inpaint(fast)))
    unet = fast.manager.inpaint_unet()
    assert is_fused(unet)

    with_lora = np.asarray(run_one(fast, lora_inpaint(fast, loras=[("unet-only", 1.0)])))
    assert not is_fused(unet), "LoRA adapters sit on to_q/to_k/to_v, which a fused projection would bypass"
    assert np.abs(repainted(with_lora) - repainted(plain)).mean() > 1, "the LoRA should change the picture"
    unfused_studio = np.asarray(run_one(services.engine, lora_inpaint(services.engine, loras=[("unet-only", 1.0)])))
    assert np.abs(with_lora.astype(int) - unfused_studio).max() <= 2, "fusion must not change what a LoRA does"

    again = np.asarray(run_one(fast, lora_inpaint(fast)))
    assert is_fused(unet), "an inpaint without LoRAs fuses the inpainting UNet again"
    assert np.array_equal(again, plain)


def test_unet_loras_load_into_an_offloaded_unet(lora_models):
    """Under the cpu-offload memory plan the inpainting UNet's weights sit on the meta device between calls;
    its LoRA adapters must still be loaded with their weights (here offloaded to the CPU itself)."""
    from accelerate import cpu_offload

    from studio import tiny
    from studio.lora_adapters import UnetLoras

    files = [(lora_models / "loras" / "unet-only.safetensors", 0.8)]
    offloaded, resident = tiny.build_tiny_inpaint_unet(), tiny.build_tiny_inpaint_unet()
    cpu_offload(offloaded, execution_device=torch.device("cpu"))
    UnetLoras().activate(offloaded, files)
    UnetLoras().activate(resident, files)
    torch.manual_seed(0)
    inputs = (torch.randn(1, 9, 8, 8), torch.tensor([10]), torch.randn(1, 77, 80))
    extra = {"added_cond_kwargs": {"text_embeds": torch.randn(1, 32), "time_ids": torch.randn(1, 6)}}
    with torch.inference_mode():
        expected = resident(*inputs, **extra).sample
        assert torch.equal(offloaded(*inputs, **extra).sample, expected)
        resident.disable_lora()
        assert not torch.equal(resident(*inputs, **extra).sample, expected)


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
