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

# The local prompt-expansion language model: GPT-2 (124M) fine-tuned on ~80k Stable Diffusion prompts.
# MIT licence (Fooocus's own expansion weights are non-commercial, so they are not used). Its `main` branch
# carries `model.safetensors` (added by the hub's safetensors converter, commit 71d441a, March 2023) next to
# the pickled `pytorch_model.bin`, which is never fetched.
PROMPT_EXPANSION_LM = HubModel(
    repo_id="Gustavosta/MagicPrompt-Stable-Diffusion",
    revision="main",
    licence="MIT",
    allow_patterns=(
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
        "added_tokens.json",
    ),
)

# Speed LoRAs for the performance modes: fused or applied as adapters on the loaded base, never a reload.
LCM_LORA_SDXL = HubModel(
    repo_id="latent-consistency/lcm-lora-sdxl",
    revision="main",
    licence="OpenRAIL++-M",
    allow_patterns=("pytorch_lora_weights.safetensors",),
)
LIGHTNING_LORA_SDXL = HubModel(
    repo_id="ByteDance/SDXL-Lightning",
    revision="main",
    licence="OpenRAIL++-M",
    allow_patterns=("sdxl_lightning_4step_lora.safetensors",),
)
HYPER_SD_LORA_SDXL = HubModel(
    repo_id="ByteDance/Hyper-SD",
    revision="main",
    licence="see the repo's model card (ByteDance Hyper-SD); check it before commercial use",
    allow_patterns=("Hyper-SDXL-8steps-lora.safetensors",),
)
SPEED_LORAS = {"lcm": LCM_LORA_SDXL, "lightning": LIGHTNING_LORA_SDXL, "hyper-sd": HYPER_SD_LORA_SDXL}
