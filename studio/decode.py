"""Latents to pictures: the VAE decode with a finite-output guard and tiling for large pictures, and a free
latent preview."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch

# SDXL latent channels -> RGB, a linear fit of the VAE decoder (as in ComfyUI's SDXL latent format):
# a live preview that needs no extra weights and costs a 4x3 matrix product.
SDXL_LATENT_RGB = torch.tensor(
    [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ]
)
SDXL_LATENT_RGB_BIAS = torch.tensor([0.1084, -0.0175, -0.0011])


def latent_preview(latents: torch.Tensor) -> np.ndarray:
    """First latent of a batch as an (H/8, W/8, 3) uint8 picture."""
    latent = latents[0].detach().float().cpu().permute(1, 2, 0)
    rgb = latent @ SDXL_LATENT_RGB + SDXL_LATENT_RGB_BIAS
    return ((rgb + 1.0) / 2.0).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


# Decodes of more output pixels than this (per image) go through the VAE in overlapping, blended tiles
# (diffusers' tiled decode): a whole 2048x2048 SDXL decode already needs several GiB of activations, and they
# grow with the area. Below it the whole-picture decode is exact and fast. The low-VRAM memory plans
# (performance_policy.place_pipeline) keep tiling on for every decode.
VAE_TILING_PIXELS = 2048 * 2048


def decode_latents(
    pipeline, latents: torch.Tensor, tiling_pixels: int = VAE_TILING_PIXELS, check: Callable[[], None] | None = None
) -> list:
    """Decode to PIL images. fp16 VAEs that overflow are retried in fp32, so no image comes out black.
    Pictures of more than `tiling_pixels` pixels are decoded tile by tile (see VAE_TILING_PIXELS); `check()`
    runs before each tile's decoder pass and may raise to end the decode there (Stop during a long decode)."""
    vae = pipeline.vae
    needs_upcast = vae.dtype == torch.float16 and vae.config.force_upcast
    scale = getattr(pipeline, "vae_scale_factor", 8)
    tiled = latents.shape[-2] * latents.shape[-1] * scale * scale > tiling_pixels
    with vae_tiling(vae, tiled), _checked_before(vae.decoder, check):
        image = _decode(vae, latents, torch.float32 if needs_upcast else vae.dtype)
        if not torch.isfinite(image).all() and vae.dtype != torch.float32:
            image = _decode(vae, latents, torch.float32)
    return pipeline.image_processor.postprocess(image, output_type="pil")


@contextmanager
def vae_tiling(vae, wanted: bool):
    """Tiled decoding inside the block when `wanted` (it stays on if the memory plan turned it on); the VAE's
    previous setting is restored afterwards, so the next small decode is a whole-picture one again."""
    before = bool(getattr(vae, "use_tiling", False))
    if wanted and not before:
        vae.enable_tiling()
    try:
        yield
    finally:
        if wanted and not before:
            vae.disable_tiling()


@contextmanager
def _checked_before(module: torch.nn.Module, check: Callable[[], None] | None):
    """`check()` before every forward pass of `module` inside the block: diffusers' tiled decode runs the
    decoder once per tile and offers no other hook between tiles."""
    if check is None:
        yield
        return
    handle = module.register_forward_pre_hook(lambda _module, _inputs: check())
    try:
        yield
    finally:
        handle.remove()


@torch.inference_mode()
def _decode(vae, latents: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    original_dtype = vae.dtype
    if dtype != original_dtype:
        vae.to(dtype)
    try:
        return vae.decode(latents.to(dtype) / vae.config.scaling_factor, return_dict=False)[0]
    finally:
        if dtype != original_dtype:
            vae.to(original_dtype)
