"""Single-file SDXL checkpoints in the original Stability (sgm) key layout: write them and load them offline.

Layout of such a file (what `sd_xl_base_1.0.safetensors` and community fine-tunes hold):

| prefix | component | key style |
| --- | --- | --- |
| `model.diffusion_model.` | UNet | LDM `input_blocks`/`middle_block`/`output_blocks` |
| `first_stage_model.` | VAE | LDM `encoder.down.N.block.M`, `mid.attn_1.q` (1x1 conv weights) |
| `conditioner.embedders.0.transformer.` | CLIP ViT-L text | Hugging Face `text_model.*` |
| `conditioner.embedders.1.model.` | OpenCLIP ViT-bigG text | OpenCLIP `transformer.resblocks.N.attn.in_proj_*`, |
|  |  | `text_projection` stored for `x @ P` (the transpose of a Linear weight) |

The diffusers -> original mapping is the inverse of what diffusers' `from_single_file` does
(`diffusers.loaders.single_file_utils.convert_ldm_unet_checkpoint` and friends), in the spirit of
diffusers' `scripts/convert_diffusers_to_original_sdxl.py`, but derived from the block structure instead of
hard-coded for SDXL's three levels, so it also writes the tiny test models. Two deliberate differences from that
script: the bigG `text_projection` is stored transposed (as OpenCLIP and real checkpoints store it, and as the
diffusers loader expects), and CLIP-L keys always carry the `text_model.` prefix (transformers >= 5.6 dropped it
from `CLIPTextModel.state_dict()`).

Loading goes through `StableDiffusionXLPipeline.from_single_file` with the configs the project ships
(`studio.sdxl_config.SDXL_CONFIG_DIR`) and the offline tokenizers, so it needs no network.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "conditioner.embedders.0.transformer."
TEXT_ENCODER_2_PREFIX = "conditioner.embedders.1.model."

# Keys whose presence tells an SDXL single file (base layout) apart from others.
SDXL_MARKER_KEYS = (
    UNET_PREFIX + "label_emb.0.0.weight",
    TEXT_ENCODER_PREFIX + "text_model.embeddings.position_embedding.weight",
    TEXT_ENCODER_2_PREFIX + "positional_embedding",
)

# ---------------------------------------------------------------------------------------------------------------
# UNet
# ---------------------------------------------------------------------------------------------------------------

_UNET_TOP_LEVEL = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}

_UNET_RESNET = (
    ("norm1.", "in_layers.0."),
    ("conv1.", "in_layers.2."),
    ("norm2.", "out_layers.0."),
    ("conv2.", "out_layers.3."),
    ("time_emb_proj.", "emb_layers.1."),
    ("conv_shortcut.", "skip_connection."),
)

_BLOCK_RE = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)$")
_MID_RE = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.*)$")


def _rename_resnet(rest: str) -> str:
    for hf, sd in _UNET_RESNET:
        if rest.startswith(hf):
            return sd + rest[len(hf) :]
    raise KeyError(f"unknown UNet resnet parameter {rest!r}")


def _uniform_layers_per_block(layers_per_block) -> int:
    if isinstance(layers_per_block, int):
        return layers_per_block
    values = set(layers_per_block)
    if len(values) != 1:
        raise ValueError(f"the original UNet layout needs one layers_per_block, got {layers_per_block}")
    return values.pop()


def convert_unet_to_original(state_dict: Mapping[str, torch.Tensor], layers_per_block: int | list[int]) -> dict:
    """diffusers UNet2DConditionModel keys -> LDM UNet keys (without the `model.diffusion_model.` prefix)."""
    per_block = _uniform_layers_per_block(layers_per_block)
    up_blocks_with_attention = {
        int(m.group(2))
        for k in state_dict
        if (m := _BLOCK_RE.match(k)) and m.group(1) == "up_blocks" and m.group(3) == "attentions"
    }
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = None
        for hf, sd in _UNET_TOP_LEVEL.items():
            if key.startswith(hf):
                new = sd + key[len(hf) :]
                break
        if new is None and (m := _BLOCK_RE.match(key)):
            kind, block, part, index, rest = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
            if kind == "down_blocks":
                if part == "resnets":
                    new = f"input_blocks.{1 + block * (per_block + 1) + index}.0.{_rename_resnet(rest)}"
                elif part == "attentions":
                    new = f"input_blocks.{1 + block * (per_block + 1) + index}.1.{rest}"
                elif part == "downsamplers" and rest.startswith("conv."):
                    new = f"input_blocks.{(block + 1) * (per_block + 1)}.0.op.{rest[len('conv.'):]}"
            else:
                if part == "resnets":
                    new = f"output_blocks.{block * (per_block + 1) + index}.0.{_rename_resnet(rest)}"
                elif part == "attentions":
                    new = f"output_blocks.{block * (per_block + 1) + index}.1.{rest}"
                elif part == "upsamplers" and rest.startswith("conv."):
                    slot = 2 if block in up_blocks_with_attention else 1
                    new = f"output_blocks.{block * (per_block + 1) + per_block}.{slot}.{rest}"
        elif new is None and (m := _MID_RE.match(key)):
            part, index, rest = m.group(1), int(m.group(2)), m.group(3)
            if part == "resnets":
                new = f"middle_block.{2 * index}.{_rename_resnet(rest)}"
            else:
                new = f"middle_block.{2 * index + 1}.{rest}"
        if new is None:
            raise KeyError(f"no original-layout name for UNet parameter {key!r}")
        out[new] = value
    return out


# ---------------------------------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------------------------------

_VAE_ATTENTION = (
    ("group_norm.", "norm."),
    ("to_q.", "q."),
    ("to_k.", "k."),
    ("to_v.", "v."),
    ("to_out.0.", "proj_out."),
)
_VAE_BLOCK_RE = re.compile(
    r"^(encoder|decoder)\.(down_blocks|up_blocks)\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.*)$"
)
_VAE_MID_RE = re.compile(r"^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)$")


def convert_vae_to_original(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """diffusers AutoencoderKL keys -> LDM VAE keys (without the `first_stage_model.` prefix)."""
    n_up = 1 + max(int(m.group(3)) for k in state_dict if (m := _VAE_BLOCK_RE.match(k)) and m.group(2) == "up_blocks")
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if m := _VAE_BLOCK_RE.match(key):
            coder, kind, block, part, index, rest = m.groups()
            block, index = int(block), int(index)
            rest = rest.replace("conv_shortcut.", "nin_shortcut.")
            if kind == "down_blocks":
                if part == "resnets":
                    new = f"{coder}.down.{block}.block.{index}.{rest}"
                else:
                    new = f"{coder}.down.{block}.downsample.{rest}"
            else:
                level = n_up - 1 - block  # diffusers numbers decoder blocks from the bottom, LDM from the top
                if part == "resnets":
                    new = f"{coder}.up.{level}.block.{index}.{rest}"
                else:
                    new = f"{coder}.up.{level}.upsample.{rest}"
        elif m := _VAE_MID_RE.match(key):
            coder, part, index, rest = m.groups()
            if part == "resnets":
                new = f"{coder}.mid.block_{int(index) + 1}.{rest.replace('conv_shortcut.', 'nin_shortcut.')}"
            else:
                for hf, sd in _VAE_ATTENTION:
                    if rest.startswith(hf):
                        rest = sd + rest[len(hf) :]
                        break
                new = f"{coder}.mid.attn_{int(index) + 1}.{rest}"
                if value.ndim == 2:  # linear -> 1x1 conv, as the original VAE stores attention projections
                    value = value.reshape(*value.shape, 1, 1)
        elif key.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")):
            new = key.replace("conv_norm_out.", "norm_out.")
        else:
            raise KeyError(f"no original-layout name for VAE parameter {key!r}")
        out[new] = value
    return out


# ---------------------------------------------------------------------------------------------------------------
# Text encoders
# ---------------------------------------------------------------------------------------------------------------


def convert_clip_l_to_original(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """CLIPTextModel keys -> Hugging Face `text_model.*` keys (the layout SDXL's embedder 0 uses)."""
    return {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in state_dict.items()}


_OPENCLIP_LAYER = (
    ("self_attn.out_proj.", "attn.out_proj."),
    ("layer_norm1.", "ln_1."),
    ("layer_norm2.", "ln_2."),
    ("mlp.fc1.", "mlp.c_fc."),
    ("mlp.fc2.", "mlp.c_proj."),
)
_OPENCLIP_QKV_RE = re.compile(r"^text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$")
_OPENCLIP_LAYER_RE = re.compile(r"^text_model\.encoder\.layers\.(\d+)\.(.*)$")


def convert_openclip_to_original(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """CLIPTextModelWithProjection keys -> OpenCLIP keys (SDXL's embedder 1): fused qkv, transposed projection."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        if not key.startswith("text_model.") and key != "text_projection.weight":
            key = "text_model." + key
        if key.endswith("position_ids"):
            continue  # a buffer; OpenCLIP has none
        if m := _OPENCLIP_QKV_RE.match(key):
            qkv.setdefault((int(m.group(1)), m.group(3)), {})[m.group(2)] = value
            continue
        if key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key == "text_model.embeddings.token_embedding.weight":
            out["token_embedding.weight"] = value
        elif key == "text_model.embeddings.position_embedding.weight":
            out["positional_embedding"] = value
        elif key.startswith("text_model.final_layer_norm."):
            out["ln_final." + key[len("text_model.final_layer_norm.") :]] = value
        elif m := _OPENCLIP_LAYER_RE.match(key):
            layer, rest = int(m.group(1)), m.group(2)
            for hf, sd in _OPENCLIP_LAYER:
                if rest.startswith(hf):
                    out[f"transformer.resblocks.{layer}.{sd}{rest[len(hf):]}"] = value
                    break
            else:
                raise KeyError(f"no OpenCLIP name for text encoder 2 parameter {key!r}")
        else:
            raise KeyError(f"no OpenCLIP name for text encoder 2 parameter {key!r}")
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"text encoder 2 layer {layer} lacks one of q/k/v {kind}")
        out[f"transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


# ---------------------------------------------------------------------------------------------------------------
# Whole pipeline
# ---------------------------------------------------------------------------------------------------------------


def sdxl_to_original_state_dict(pipe) -> dict[str, torch.Tensor]:
    """The single-file (original layout) state dict of an SDXL pipeline's unet, vae and two text encoders."""
    parts = (
        (UNET_PREFIX, convert_unet_to_original(pipe.unet.state_dict(), pipe.unet.config.layers_per_block)),
        (VAE_PREFIX, convert_vae_to_original(pipe.vae.state_dict())),
        (TEXT_ENCODER_PREFIX, convert_clip_l_to_original(pipe.text_encoder.state_dict())),
        (TEXT_ENCODER_2_PREFIX, convert_openclip_to_original(pipe.text_encoder_2.state_dict())),
    )
    return {prefix + key: value for prefix, converted in parts for key, value in converted.items()}


def write_single_file_sdxl(
    pipe,
    path: str | os.PathLike,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `pipe` as one original-layout `.safetensors` file (atomically), with `metadata` in its header."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"single-file checkpoints are written as .safetensors, not {path.name!r}")
    state_dict = sdxl_to_original_state_dict(pipe)
    tensors = {}
    for key, value in state_dict.items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    header = {"format": "pt"}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("safetensors metadata must map str to str")
        header[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_single_file_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's header (empty when it has none); reads no tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def is_sdxl_single_file(path: str | os.PathLike) -> bool:
    """Whether a safetensors file holds an SDXL base checkpoint in the original layout (reads the header only)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
    return all(k in keys for k in SDXL_MARKER_KEYS)


def load_single_file_sdxl(path: str | os.PathLike, torch_dtype: torch.dtype = torch.float32, config_dir=None):
    """A StableDiffusionXLPipeline from an original-layout `.safetensors` file, with no network access.

    `config_dir` is a diffusers folder of component configs (no weights): the shipped SDXL base configs by default.
    Tokenizers are the offline CLIP tokenizers; the invisible watermark is off.
    """
    from diffusers import StableDiffusionXLPipeline

    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.sdxl_config import SDXL_CONFIG_DIR

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"only .safetensors single files are loaded (refusing pickled {path.name!r})")
    if not path.is_file():
        raise FileNotFoundError(path)
    config_dir = Path(config_dir) if config_dir is not None else SDXL_CONFIG_DIR
    if not (config_dir / "model_index.json").is_file():
        raise FileNotFoundError(f"{config_dir} holds no model_index.json")
    tokenizer, tokenizer_2 = load_clip_tokenizers()
    return StableDiffusionXLPipeline.from_single_file(
        str(path),
        config=str(config_dir),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        torch_dtype=torch_dtype,
        local_files_only=True,
        add_watermarker=False,
    )
