"""Random LoRAs in kohya's real SDXL naming, for tests: the UNet by its original (SGM) block names
(`lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`), the two text encoders as `lora_te1_` and
`lora_te2_` (`lora_te1_text_model_encoder_layers_0_self_attn_q_proj`), each with `.lora_down.weight`,
`.lora_up.weight` and `.alpha`, the way kohya's sd-scripts and most Civitai SDXL LoRAs write them.

The names are derived from the model's own modules and the UNet config, with SDXL's layout of the original
UNet (input block 0 is conv_in; each down block has `layers_per_block` layers and a downsampler; each up block
one more layer), so the tiny model gets exactly the names a full-size SDXL LoRA has for the same modules.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj")
PARTS = ("unet", "te1", "te2")


def sgm_unet_name(module_name: str, layers_per_block: int) -> str:
    """The original-UNet (SGM) name of a diffusers UNet attention module, e.g.
    `down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q` -> `input_blocks.4.1.transformer_blocks.0.attn1.to_q`."""
    down = re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module_name)
    if down:
        block, layer, rest = int(down.group(1)), int(down.group(2)), down.group(3)
        return f"input_blocks.{1 + block * (layers_per_block + 1) + layer}.1.{rest}"
    mid = re.fullmatch(r"mid_block\.attentions\.0\.(.+)", module_name)
    if mid:
        return f"middle_block.1.{mid.group(1)}"
    up = re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module_name)
    if up:
        block, layer, rest = int(up.group(1)), int(up.group(2)), up.group(3)
        return f"output_blocks.{block * (layers_per_block + 1) + layer}.1.{rest}"
    raise ValueError(f"{module_name} is not an attention module of a down, mid or up block")


def kohya_targets(pipeline, part: str) -> dict[str, torch.nn.Linear]:
    """kohya key stem -> the Linear it adapts, for `part` (unet, te1 or te2) of an SDXL pipeline."""
    if part == "unet":
        layers = pipeline.unet.config.layers_per_block
        return {
            "lora_unet_" + sgm_unet_name(name, layers).replace(".", "_"): module
            for name, module in pipeline.unet.named_modules()
            if isinstance(module, torch.nn.Linear) and name.endswith(UNET_TARGETS) and ".attentions." in name
        }
    encoder = {"te1": pipeline.text_encoder, "te2": pipeline.text_encoder_2}[part]
    return {
        # kohya names CLIP's modules as the original CLIPTextModel held them: text_model.encoder.layers.N...
        f"lora_{part}_" + re.sub(r"^(text_model\.)?", "text_model.", name).replace(".", "_"): module
        for name, module in encoder.named_modules()
        if isinstance(module, torch.nn.Linear) and name.endswith(TEXT_TARGETS)
    }


def kohya_lora_state_dict(
    pipeline, parts: tuple[str, ...] = PARTS, seed: int = 1, rank: int = 4, alpha: float = 2.0, up_scale: float = 1.0
) -> dict[str, torch.Tensor]:
    """Random down/up weights (the up ones times `up_scale`) and `alpha` for every target of `parts`. The
    applied change is up @ down * alpha / rank, as kohya defines it."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for part in parts:
        for stem, module in sorted(kohya_targets(pipeline, part).items()):
            down = torch.randn(rank, module.in_features, generator=generator) / module.in_features**0.5
            up = torch.randn(module.out_features, rank, generator=generator) * up_scale
            state[f"{stem}.lora_down.weight"] = down.contiguous()
            state[f"{stem}.lora_up.weight"] = up.contiguous()
            state[f"{stem}.alpha"] = torch.tensor(float(alpha))
    return state


def save_kohya_sdxl_lora(path: Path, parts: tuple[str, ...] = PARTS, **options) -> Path:
    """Write a random kohya-named SDXL LoRA for the tiny model (see `kohya_lora_state_dict`) as safetensors."""
    from safetensors.torch import save_file

    from studio.tiny.sdxl import build_tiny_sdxl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(kohya_lora_state_dict(build_tiny_sdxl(), parts, **options), str(path))
    return path
