"""Tiny files for the VAE and embedding folders: a random VAE of the tiny model's architecture, written in the
original (LDM) layout that shared VAE files use, and SDXL-form textual-inversion embeddings (`clip_l`, `clip_g`)
of the tiny text encoders' widths."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.tiny.sdxl import TEXT_ENCODER_2_WIDTH, TEXT_ENCODER_WIDTH, tiny_vae_config

TINY_VAE_SEED = 3
TINY_EMBEDDING_SEED = 4


def save_tiny_vae(path: Path, seed: int = TINY_VAE_SEED) -> Path:
    """A random tiny VAE as one `.safetensors` file in the original layout (as `sdxl_vae.safetensors` is)."""
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from studio.single_file import convert_vae_to_original

    torch.manual_seed(seed)
    vae = AutoencoderKL(**tiny_vae_config())
    state = {key: value.contiguous() for key, value in convert_vae_to_original(vae.state_dict()).items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def save_tiny_embedding(path: Path, vectors: int = 2, seed: int = TINY_EMBEDDING_SEED, scale: float = 1.0) -> Path:
    """A random SDXL embedding for the tiny text encoders: `clip_l` (vectors x 32), `clip_g` (vectors x 48)."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    state = {
        "clip_l": torch.randn(vectors, TEXT_ENCODER_WIDTH, generator=generator) * scale,
        "clip_g": torch.randn(vectors, TEXT_ENCODER_2_WIDTH, generator=generator) * scale,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
