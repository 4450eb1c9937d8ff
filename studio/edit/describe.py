"""Describe: image -> prompt with an image-captioning model (BLIP, transformers), in a photo or an
illustration style. The caption is conditioned on a style prefix and finished with style words, so the text
can go straight into the prompt box."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

DESCRIBE_STYLES = {
    # style -> (caption prefix the model continues, words appended to the prompt)
    "photo": ("a photography of", "photograph, highly detailed, sharp focus, natural lighting"),
    "illustration": ("an illustration of", "illustration, digital painting, clean lines, vibrant colors"),
}
MAX_CAPTION_TOKENS = 40


def load_captioner(folder: Path, device: str, dtype: torch.dtype):
    """(processor, model) from a Hugging Face folder; safetensors weights only."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    processor = BlipProcessor.from_pretrained(folder, local_files_only=True)
    model = BlipForConditionalGeneration.from_pretrained(
        folder, local_files_only=True, use_safetensors=True, dtype=dtype
    )
    return processor, model.to(device).eval()


@torch.inference_mode()
def describe(captioner, image: Image.Image, style: str = "photo") -> str:
    """A prompt for `image`: the model's caption (deterministic beam search) plus the style's words."""
    if style not in DESCRIBE_STYLES:
        raise ValueError(f"style '{style}' is unknown; choose one of: {', '.join(DESCRIBE_STYLES)}")
    processor, model = captioner
    prefix, words = DESCRIBE_STYLES[style]
    inputs = processor(images=image.convert("RGB"), text=prefix, return_tensors="pt").to(model.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    tokens = model.generate(**inputs, max_new_tokens=MAX_CAPTION_TOKENS, min_new_tokens=3, num_beams=3, do_sample=False)
    caption = processor.decode(tokens[0], skip_special_tokens=True).strip()
    if caption.lower().startswith(prefix):
        caption = caption[len(prefix) :].strip()
    caption = " ".join(caption.split()) or "an image"
    return f"{caption}, {words}"
