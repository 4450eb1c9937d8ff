"""Where each downloadable model comes from: hub repo, files, revision and licence.

Pinning a revision keeps an image re-makeable after a repo changes upstream.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    revision: str
    licence: str
    # Files (glob patterns) to fetch; everything else in the repo is left on the hub.
    allow_patterns: tuple[str, ...]


SDXL_BASE = HubModel(
    repo_id="stabilityai/stable-diffusion-xl-base-1.0",
    revision="main",
    licence="CreativeML Open RAIL++-M",
    allow_patterns=(),  # a checkpoint's files depend on the dtype; see models.checkpoint_patterns
)

# The SDXL VAE fine-tuned to stay finite in fp16, so CUDA decodes need no fp32 upcast.
SDXL_VAE_FP16_FIX = HubModel(
    repo_id="madebyollin/sdxl-vae-fp16-fix",
    revision="main",
    licence="MIT",
    allow_patterns=("config.json", "diffusion_pytorch_model.safetensors"),
)
