"""The tiny random-weight SDXL: its configs, the pipeline, folder and single-file forms, random LoRAs and a
9-channel inpainting UNet. Two steps at 64x64 take a fraction of a second on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_MODEL_NAME = "tiny"
TINY_SEED = 0
# The marker file that tells the loader a folder holds random weights, so the UI can say so.
TINY_MARKER = "studio_tiny.json"

# Text encoder widths differ (32 and 48) so single-file loading can tell the two encoders apart;
# their sum is the UNet's cross-attention width, as in SDXL (768 + 1280 = 2048).
TEXT_ENCODER_WIDTH = 32
TEXT_ENCODER_2_WIDTH = 48
TEXT_PROJECTION_DIM = 32
TIME_EMBED_DIM = 8
CLIP_VOCAB_SIZE = 49408


def tiny_unet_config() -> dict:
    return dict(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=TEXT_PROJECTION_DIM + 6 * TIME_EMBED_DIM,
        cross_attention_dim=TEXT_ENCODER_WIDTH + TEXT_ENCODER_2_WIDTH,
        norm_num_groups=32,
    )


def tiny_vae_config() -> dict:
    return dict(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=128,
        scaling_factor=0.13025,
        force_upcast=False,
    )


def tiny_text_config(width: int, *, with_projection: bool):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        hidden_size=width,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=CLIP_VOCAB_SIZE,
        max_position_embeddings=77,
        projection_dim=TEXT_PROJECTION_DIM,
        hidden_act="gelu" if with_projection else "quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )


def build_tiny_sdxl(seed: int = TINY_SEED):
    """A tiny StableDiffusionXLPipeline with random weights, deterministic for one seed."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.sdxl_config import sdxl_scheduler_config

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**tiny_unet_config())
    vae = AutoencoderKL(**tiny_vae_config())
    text_encoder = CLIPTextModel(tiny_text_config(TEXT_ENCODER_WIDTH, with_projection=False))
    text_encoder_2 = CLIPTextModelWithProjection(tiny_text_config(TEXT_ENCODER_2_WIDTH, with_projection=True))
    tokenizer, tokenizer_2 = load_clip_tokenizers()
    scheduler = EulerDiscreteScheduler.from_config(sdxl_scheduler_config())
    return StableDiffusionXLPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet.eval(),
        scheduler=scheduler,
        add_watermarker=False,
    )


def save_tiny_sdxl(folder: Path, seed: int = TINY_SEED) -> Path:
    """Write a tiny SDXL as a diffusers folder (safetensors weights) and return the folder."""
    folder = Path(folder)
    build_tiny_sdxl(seed).save_pretrained(folder, safe_serialization=True)
    (folder / TINY_MARKER).write_text(json.dumps({"random_weights": True, "seed": seed}))
    return folder


def is_tiny_folder(folder: Path) -> bool:
    return (Path(folder) / TINY_MARKER).is_file()


def ensure_tiny_folder(folder: Path, seed: int = TINY_SEED) -> Path:
    """The tiny model folder for `--model tiny`, built once into the models folder."""
    folder = Path(folder)
    if not is_tiny_folder(folder):
        save_tiny_sdxl(folder, seed)
    return folder


# Single-file form of the tiny model: the original (sgm) key layout, marked in the safetensors header.
TINY_SINGLE_FILE_METADATA = {"studio_tiny": "1"}


def save_tiny_single_file(path: Path, seed: int = TINY_SEED) -> Path:
    """Write a tiny SDXL as one original-layout `.safetensors` file (header metadata `studio_tiny=1`)."""
    from studio.single_file import write_single_file_sdxl

    metadata = {**TINY_SINGLE_FILE_METADATA, "studio_tiny_seed": str(seed)}
    return write_single_file_sdxl(build_tiny_sdxl(seed), Path(path), metadata=metadata)


def is_tiny_single_file(path: Path) -> bool:
    """Whether a `.safetensors` single file was written by `save_tiny_single_file` (reads the header only)."""
    from studio.single_file import read_single_file_metadata

    return read_single_file_metadata(path).get("studio_tiny") == TINY_SINGLE_FILE_METADATA["studio_tiny"]


def write_tiny_config_dir(folder: Path) -> Path:
    """Write the tiny pipeline's configs (model_index.json + component configs, no weights, no tokenizer files).

    `studio.single_file.load_single_file_sdxl(path, dtype, config_dir=folder)` loads a tiny single file with it.
    """
    folder = Path(folder)
    pipe = build_tiny_sdxl()
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_config(folder)
    for name in ("unet", "vae", "scheduler"):
        getattr(pipe, name).save_config(folder / name)
    for name in ("text_encoder", "text_encoder_2"):
        getattr(pipe, name).config.save_pretrained(folder / name)
    return folder


def save_tiny_lora(path: Path, seed: int = 1, rank: int = 4, kohya: bool = False, text_encoder: bool = False) -> Path:
    """A random LoRA for the tiny SDXL (attention projections; optionally the first text encoder too), saved
    as safetensors in diffusers' key format, or in kohya's (`lora_unet_..._to_q.lora_down.weight`)."""
    from diffusers import StableDiffusionXLPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipeline = build_tiny_sdxl()
    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    pipeline.unet.add_adapter(config)
    unet_layers = get_peft_model_state_dict(pipeline.unet)
    text_layers = None
    if text_encoder:
        pipeline.text_encoder.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=["q_proj", "v_proj"]))
        text_layers = get_peft_model_state_dict(pipeline.text_encoder)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kohya:
        from safetensors.torch import save_file

        save_file(_kohya_keys(unet_layers, rank), str(path))
        return path
    StableDiffusionXLPipeline.save_lora_weights(
        path.parent, unet_lora_layers=unet_layers, text_encoder_lora_layers=text_layers, weight_name=path.name, safe_serialization=True
    )
    return path


def _kohya_keys(unet_layers: dict, rank: int) -> dict:
    converted = {}
    for key, tensor in unet_layers.items():
        module, kind = key.rsplit(".lora_", 1)  # e.g. "down_blocks.1....to_q", "A.weight"
        stem = "lora_unet_" + module.replace(".", "_")
        converted[f"{stem}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = tensor.contiguous()
        converted[f"{stem}.alpha"] = torch.tensor(float(rank))
    return converted


# A tiny random inpainting UNet (`--inpaint-model tiny`, tests): the tiny UNet with 9 input channels (latents,
# mask, masked-image latents), saved as a diffusers UNet folder; it fits the tiny model's text encoders and VAE.
TINY_INPAINT_SEED = 5


def build_tiny_inpaint_unet(seed: int = TINY_INPAINT_SEED):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**{**tiny_unet_config(), "in_channels": 9}).eval()


def save_tiny_inpaint_unet(folder: Path, seed: int = TINY_INPAINT_SEED) -> Path:
    """Write the tiny inpainting UNet as a diffusers folder (config.json + safetensors) and return the folder."""
    folder = Path(folder)
    build_tiny_inpaint_unet(seed).save_pretrained(folder, safe_serialization=True)
    (folder / TINY_MARKER).write_text(json.dumps({"random_weights": True, "seed": seed}))
    return folder
