"""Images as A1111 and Fooocus write them, built here byte by byte with Pillow (no files from those tools):
the texts, the chunk and EXIF places, and the encodings each tool uses."""

from __future__ import annotations

import io
import json

from PIL import Image, PngImagePlugin

A1111_TEXT = (
    "photo of a lighthouse, <lora:add_detail:0.5>, golden hour\n"
    "Negative prompt: (worst quality:1.4), lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567890, Size: 832x1216, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, VAE hash: 235745af8d, VAE: sdxl_vae.safetensors, "
    "Denoising strength: 0.35, Clip skip: 2, Hires upscale: 1.5, Hires upscaler: 4x-UltraSharp, "
    'Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
)

# Fooocus 2.5's JSON scheme: sorted snake_case keys, Python reprs for styles/resolution, "name : weight" LoRAs
FOOOCUS_JSON = {
    "adaptive_cfg": 7,
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689",
    "clip_skip": 2,
    "full_negative_prompt": ["unrealistic, saturated"],
    "full_prompt": ["a castle on a hill, gothic"],
    "guidance_scale": 4,
    "lora_combined_1": "sd_xl_offset_example-lora_1.0 : 0.1",
    "metadata_scheme": "fooocus",
    "negative_prompt": "blurry",
    "performance": "Speed",
    "prompt": "a castle on a hill",
    "prompt_expansion": "a castle on a hill, intricate",
    "refiner_model": "None",
    "refiner_switch": 0.5,
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "8761234567890123456",
    "sharpness": 2,
    "steps": 30,
    "styles": "['Fooocus V2', 'Gothic', 'Fooocus Enhance']",
    "vae": "Default (model)",
    "version": "Fooocus v2.5.5",
}

# Fooocus's A1111-like scheme: the styled prompt first, the user's own in "Raw prompt"
FOOOCUS_A1111_TEXT = (
    "a castle on a hill, gothic, dark\n"
    "Negative prompt: unrealistic, saturated\n"
    "Steps: 60, Sampler: DPM++ 2M SDE Karras, Seed: 1234, Size: 896x1152, CFG scale: 7, Sharpness: 3, "
    'ADM Guidance: "(1.5, 0.8, 0.3)", Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, '
    "Performance: Quality, Scheduler: karras, VAE: Default (model), Raw prompt: a castle on a hill, "
    "Raw negative prompt: blurry, Styles: \"['Gothic']\", Refiner: None, "
    'Lora hashes: "sd_xl_offset_example-lora_1.0: 4852686128", Lora weights: "sd_xl_offset_example-lora_1.0: 0.25", '
    "User: Fooocus, Version: Fooocus v2.5.5"
)


def png_with_texts(**texts: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "gray").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def a1111_jpeg(text: str) -> bytes:
    """As A1111 saves a JPEG: `piexif.helper.UserComment.dump(text, encoding="unicode")` in the Exif IFD."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "gray").save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def fooocus_image(text: str, scheme: str, image_format: str = "JPEG") -> bytes:
    """As Fooocus saves a JPEG/WebP: UserComment, Software and MakerNote (the scheme) in the first IFD."""
    exif = Image.Exif()
    exif[0x9286] = text
    exif[0x0131] = "Fooocus v2.5.5"
    exif[0x927C] = scheme
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "gray").save(buffer, format=image_format, exif=exif)
    return buffer.getvalue()


def fooocus_png(text: str, scheme: str) -> bytes:
    return png_with_texts(parameters=text, fooocus_scheme=scheme)


def fooocus_json_text() -> str:
    return json.dumps(FOOOCUS_JSON)
