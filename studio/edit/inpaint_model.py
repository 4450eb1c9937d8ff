"""The dedicated SDXL inpainting model (`--inpaint-model`): only its 9-channel UNet is loaded (latents, mask and
masked-image latents in), once, on the first inpaint/outpaint, and kept by the PipelineManager; the base
model's text encoders, VAE and scheduler serve it (`StableDiffusionXLInpaintPipeline.from_pipe(base,
unet=...)`), so the base model's weights are never loaded twice and its own UNet is never touched.

Without `--inpaint-model`, inpaint and outpaint run the base model's UNet through `from_pipe`. Which one an
image used is recorded in the resolved request (`EditSpec.inpaint_model`: 'base' or the model's name), so
its metadata re-makes it; a request naming an inpainting model the studio was not started with is refused.
An image's LoRAs, speed LoRAs included, act on the inpainting UNet too (the engine activates them on every
UNet an image samples with; `lora_adapters.UnetLoras` loads their UNet parts into it).

Sources, like `--model`: a diffusers folder (a whole pipeline with `unet/`, or a UNet folder), one
`.safetensors` file (original `model.diffusion_model.*` layout or diffusers UNet keys), a hub repo id (only
`unet/` is fetched; `diffusers/stable-diffusion-xl-1.0-inpainting-0.1` is in the registry with its licence),
or `tiny` (a tiny random one, for tests and `--model tiny`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

from studio import registry, tiny
from studio.types import InvalidRequest

log = logging.getLogger(__name__)

BASE = "base"  # EditSpec.inpaint_model for the base model's own UNet
INPAINT_CHANNELS = 9  # 4 latent + 1 mask + 4 masked-image latent channels
OPTION = "--inpaint-model"


def inpaint_model_name(source: str) -> str:
    """The name recorded in metadata: a local path's last part, else the source (hub id, 'tiny')."""
    return Path(source).expanduser().name if source and Path(source).expanduser().exists() else source


def resolve_inpaint_model(asked: str, configured: str) -> str:
    """What `EditSpec.inpaint_model` resolves to: '' -> the studio's choice (the configured model's name, or
    'base'); 'base' or the configured model's name/source as they are; anything else is refused."""
    name = inpaint_model_name(configured) if configured else ""
    if not asked:
        return name or BASE
    if asked == BASE:
        return BASE
    if configured and asked in (name, configured):
        return name
    started = f"this studio runs {OPTION} {configured}" if configured else f"this studio was started without {OPTION}"
    raise InvalidRequest(
        "edit.inpaint_model",
        f"'{asked}' is not loaded ({started}); start it with {OPTION} {asked} to re-make this image, "
        f"or use '{BASE}' for the base model's own UNet",
    )


def inpaint_unet_for(manager, request):
    """The inpainting UNet a resolved request samples with (loaded on first use), or None for the base
    model's own UNet: the edit stage samples with it and the engine activates the image's LoRAs on it."""
    edit = request.edit
    if edit is None or edit.kind not in ("inpaint", "outpaint") or edit.inpaint_model in ("", BASE):
        return None
    return manager.inpaint_unet()  # resolved: the configured inpainting model


def load_inpaint_unet(manager, source: str):
    """Load the inpainting UNet of `source`, placed and sped up like the base model's; ModelUnavailable or
    UnsafeCheckpoint name the option when it cannot be had."""
    from studio.models import HUB_ID, PICKLED_SUFFIXES, ModelUnavailable, UnsafeCheckpoint

    dtype = manager.policy.dtype
    path = Path(source).expanduser()
    try:
        if source == tiny.TINY_MODEL_NAME:
            folder = manager.settings.models_dir / "tiny-inpaint-unet"
            unet = _from_folder(folder if tiny.is_tiny_folder(folder) else tiny.save_tiny_inpaint_unet(folder), dtype)
        elif path.suffix.lower() in PICKLED_SUFFIXES:
            raise UnsafeCheckpoint(
                f"{OPTION} {source}: '{path.suffix}' checkpoints are pickled and can run code when loaded; "
                "convert it to .safetensors or use a diffusers folder"
            )
        elif path.is_dir():
            unet = _from_folder(path, dtype)
        elif path.is_file():
            if path.suffix.lower() != ".safetensors":
                raise ModelUnavailable(f"{OPTION} {source}: expected a .safetensors file or a diffusers folder")
            unet = _from_single_file(path, dtype, manager.settings.models_dir)
        elif HUB_ID.match(source) and not source.startswith((".", "~")):
            unet = _from_folder(_hub_folder(manager, source), dtype)
        else:
            raise ModelUnavailable(f"{OPTION} {source}: no such file or folder, and not a hub repo id like 'org/name'")
    except (ModelUnavailable, UnsafeCheckpoint):
        raise
    except Exception as error:  # a broken or foreign file: say which, keep the cause for the log
        raise ModelUnavailable(
            f"{OPTION} {source}: could not be loaded as an SDXL inpainting UNet ({error})"
        ) from error
    _check_fits(unet, manager.pipeline.unet, source)
    _place(manager, unet)
    log.info("loaded inpainting UNet %s", source)
    return unet


def _hub_folder(manager, repo_id: str) -> Path:
    from studio.models import ModelUnavailable

    model = registry.SDXL_INPAINT
    if repo_id != model.repo_id:
        model = registry.HubModel(repo_id, "main", "see the repo's model card", model.allow_patterns)
    try:
        folder = manager.registry_folder(model)
    except ModelUnavailable as error:
        raise ModelUnavailable(f"{OPTION} {repo_id}: {error}") from error
    return folder / "unet"


def _from_folder(folder: Path, dtype):
    from diffusers import UNet2DConditionModel

    folder = Path(folder)
    if (folder / "unet").is_dir():
        folder = folder / "unet"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no UNet config.json (a diffusers folder has unet/config.json)")
    plain = (folder / "diffusion_pytorch_model.safetensors").is_file()
    variant = None if plain or not (folder / "diffusion_pytorch_model.fp16.safetensors").is_file() else "fp16"
    return UNet2DConditionModel.from_pretrained(
        folder, torch_dtype=dtype, variant=variant, use_safetensors=True, local_files_only=True
    )


def _from_single_file(path: Path, dtype, models_dir: Path):
    """One `.safetensors`: the original (sgm) layout of a whole inpainting checkpoint, or diffusers UNet keys.
    The architecture is SDXL's (the tiny one for files marked by studio.tiny) with the file's input channels."""
    from safetensors import safe_open

    from studio.sdxl_config import SDXL_CONFIG_DIR
    from studio.single_file import UNET_PREFIX
    from studio.tiny import is_tiny_single_file

    is_tiny = is_tiny_single_file(path)
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
        original = UNET_PREFIX + "input_blocks.0.0.weight"
        conv_in = original if original in keys else "conv_in.weight" if "conv_in.weight" in keys else None
        if conv_in is None:
            raise ValueError("no UNet weights found (neither model.diffusion_model.* nor diffusers UNet keys)")
        in_channels = handle.get_slice(conv_in).get_shape()[1]
    config = tiny.tiny_unet_config() if is_tiny else None
    if conv_in == original:
        from diffusers import UNet2DConditionModel

        config_dir = tiny.write_tiny_config_dir(models_dir / "tiny-sdxl-config") if is_tiny else SDXL_CONFIG_DIR
        return UNet2DConditionModel.from_single_file(
            str(path), config=str(config_dir), subfolder="unet", torch_dtype=dtype, in_channels=in_channels
        )
    return _from_diffusers_state_dict(path, config, in_channels, dtype)


def _from_diffusers_state_dict(path: Path, config: dict | None, in_channels: int, dtype):
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    from studio.sdxl_config import sdxl_component_config

    config = dict(config or sdxl_component_config("unet"), in_channels=in_channels)
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(config)
    state = {key: value.to(dtype) for key, value in load_file(str(path)).items()}
    unet.load_state_dict(state, strict=True, assign=True)
    return unet.eval()


def _check_fits(unet, base_unet, source: str) -> None:
    from studio.models import ModelUnavailable

    if unet.config.in_channels != INPAINT_CHANNELS:
        raise ModelUnavailable(
            f"{OPTION} {source}: its UNet takes {unet.config.in_channels} input channels; an inpainting UNet takes "
            f"{INPAINT_CHANNELS} (latents, mask, masked image). Leave {OPTION} out to inpaint with the base model"
        )
    for name in ("cross_attention_dim", "projection_class_embeddings_input_dim", "addition_time_embed_dim"):
        if unet.config.get(name) != base_unet.config.get(name):
            raise ModelUnavailable(
                f"{OPTION} {source}: its {name} is {unet.config.get(name)}, the loaded model's is "
                f"{base_unet.config.get(name)}; an inpainting model must be made for the same SDXL architecture"
            )


def _place(manager, unet) -> None:
    """On the base model's device and dtype (offloaded like it under the cpu-offload plan), with the fast
    path's UNet switches (not compile: that would cost its warm-up on the first inpaint)."""
    import torch

    from studio import performance_policy
    from studio.models import _own_aligned_weights

    device, dtype = manager.policy.device, manager.policy.dtype
    unet.eval().requires_grad_(False)
    plan = manager.memory_plan
    if plan is not None and plan.model_offload:
        from accelerate import cpu_offload

        unet.to(dtype=dtype)
        cpu_offload(unet, execution_device=torch.device(device))
    else:
        unet.to(device=device, dtype=dtype)
    _own_aligned_weights(SimpleNamespace(components={"unet": unet}))
    fast_path = manager.settings.fast_path
    if fast_path.applies_on(device):
        if not fast_path.sdpa:
            from diffusers.models.attention_processor import AttnProcessor

            unet.set_attn_processor(AttnProcessor())
        if fast_path.channels_last:
            unet.to(memory_format=torch.channels_last)
        if fast_path.fuse_qkv and fast_path.sdpa:
            performance_policy.fuse_qkv(unet)
