"""Full-size SDXL (or the tiny architectures) with random weights, built on the meta device and materialised
straight on the target device: no 30 s CPU initialisation and no download. Speed does not depend on the
weights, so the GPU comparison runs on these."""

from __future__ import annotations

import math


def randomize_(module, seed: int = 0, gain: float = 0.5):
    """Fill a materialised (`to_empty`) module in place: matrices and kernels ~ N(0, gain^2 / fan_in), biases 0,
    norm scales 1, CLIP's position ids 0..n-1. Deterministic for one seed on one device."""
    import torch

    parameters = list(module.parameters())
    device = parameters[0].device if parameters else torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.named_parameters():
            if tensor.dim() >= 2:
                tensor.normal_(0.0, gain / math.sqrt(tensor[0].numel()), generator=generator)
            elif name.endswith("bias"):
                tensor.zero_()
            else:
                tensor.fill_(1.0)
        for name, tensor in module.named_buffers():
            if name.endswith("position_ids"):
                tensor.copy_(torch.arange(tensor.shape[-1], device=tensor.device).expand_as(tensor))
            else:
                raise ValueError(f"randomize_ does not know how to fill buffer '{name}'")
    return module.eval()


def materialize(build, device, dtype, seed: int):
    """`build()` on the meta device (no memory, no init), then real storage on `device`, random values."""
    import torch

    with torch.device("meta"):
        module = build()
    # torch's own `to`: diffusers' override warns about keeping fp32 modules even when there are none.
    module = torch.nn.Module.to(module, dtype).to_empty(device=device)
    return randomize_(module, seed)


def build_random_pipeline(
    unet_config: dict, vae_config: dict, text_config, text_config_2, device, dtype, seed: int = 0
):
    """A StableDiffusionXLPipeline with random weights of the given architectures, made on `device`."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.sdxl_config import sdxl_scheduler_config

    unet = materialize(lambda: UNet2DConditionModel.from_config(unet_config), device, dtype, seed)
    vae = materialize(lambda: AutoencoderKL.from_config(vae_config), device, dtype, seed + 1)
    text_encoder = materialize(lambda: CLIPTextModel(text_config), device, dtype, seed + 2)
    text_encoder_2 = materialize(lambda: CLIPTextModelWithProjection(text_config_2), device, dtype, seed + 3)
    tokenizer, tokenizer_2 = load_clip_tokenizers()
    pipeline = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=EulerDiscreteScheduler.from_config(sdxl_scheduler_config()),
        add_watermarker=False,
    )  # fmt: skip
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def sdxl_random_pipeline(device, dtype, seed: int = 0, fp16_safe_vae: bool = False, tiny: bool = False):
    """Full-size SDXL base from the shipped configs (or the tiny architectures). `fp16_safe_vae` gives the VAE
    the fp16-fix config."""
    if tiny:
        from studio import tiny as tiny_models

        configs = (
            tiny_models.tiny_unet_config(), tiny_models.tiny_vae_config(),
            tiny_models.tiny_text_config(tiny_models.TEXT_ENCODER_WIDTH, with_projection=False),
            tiny_models.tiny_text_config(tiny_models.TEXT_ENCODER_2_WIDTH, with_projection=True),
        )  # fmt: skip
    else:
        from transformers import CLIPTextConfig

        from studio.sdxl_config import sdxl_component_config

        configs = (
            sdxl_component_config("unet"), sdxl_component_config("vae"),
            CLIPTextConfig.from_dict(sdxl_component_config("text_encoder")),
            CLIPTextConfig.from_dict(sdxl_component_config("text_encoder_2")),
        )  # fmt: skip
    unet_config, vae_config, text_config, text_config_2 = configs
    vae_config = {**vae_config, **({"force_upcast": False} if fp16_safe_vae else {})}
    return build_random_pipeline(unet_config, vae_config, text_config, text_config_2, device, dtype, seed)
