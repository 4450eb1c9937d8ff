"""FLOPs of a UNet evaluation, the device's measured matmul throughput, and the FLOP bound they give."""

from __future__ import annotations

import time


def unet_inputs(unet, batch: int, latent_height: int, latent_width: int, text_length: int = 77):
    """Inputs of one SDXL UNet call (latents, timestep, text states, pooled text + size conditioning)."""
    import torch

    config = unet.config
    parameter = next(unet.parameters())
    device, dtype = parameter.device, parameter.dtype
    pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
    return {
        "sample": torch.randn(batch, config.in_channels, latent_height, latent_width, device=device, dtype=dtype),
        "timestep": torch.tensor(500.0, device=device),
        "encoder_hidden_states": torch.randn(
            batch, text_length, config.cross_attention_dim, device=device, dtype=dtype
        ),
        "added_cond_kwargs": {
            "text_embeds": torch.randn(batch, pooled, device=device, dtype=dtype),
            "time_ids": torch.tensor([[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]], device=device, dtype=dtype).repeat(
                batch, 1
            ),
        },
    }


def count_unet_flops(unet, batch: int, latent_height: int, latent_width: int) -> int:
    """FLOPs of one UNet evaluation at this batch and latent size (matmuls, convolutions, attention)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    inputs = unet_inputs(unet, batch, latent_height, latent_width)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        unet(**inputs, return_dict=False)
    return int(counter.get_total_flops())


def measure_matmul_tflops(device="cuda", dtype=None, size: int = 8192, iterations: int = 20) -> float:
    """Measured dense matmul throughput (TFLOP/s) of `size`x`size` products on `device` (bf16 by default)."""
    import torch

    dtype = dtype or torch.bfloat16
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    started = time.perf_counter()
    for _ in range(iterations):
        a @ b
    sync(device)
    seconds = time.perf_counter() - started
    return 2 * size**3 * iterations / seconds / 1e12


def flop_bound_seconds(flops_per_evaluation: float, evaluations: int, tflops: float) -> float:
    """The least time the denoising could take at the measured matmul throughput."""
    return flops_per_evaluation * evaluations / (tflops * 1e12)


def sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
