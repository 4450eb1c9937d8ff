"""Saved files: PNG as before, JPEG and WebP with the same metadata; the A1111 line with cached hashes."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from studio.a1111_line import FileHashes, ResourceHashes
from studio.image_formats import parameters_text
from studio.outputs import OutputStore, a1111_parameters, read_request, studio_metadata
from studio.types import GenerationRequest, InvalidRequest, LoraWeight, validate_request


def picture() -> Image.Image:
    """A picture with detail, so JPEG quality shows in the bytes."""
    image = Image.radial_gradient("L").resize((64, 64)).convert("RGB")
    return Image.merge("RGB", (image.getchannel(0), image.getchannel(0).rotate(90), image.getchannel(0).rotate(45)))


@pytest.mark.parametrize("output_format,suffix,pil_format", [("jpeg", ".jpg", "JPEG"), ("webp", ".webp", "WEBP")])
def test_jpeg_and_webp_carry_both_texts_and_remake_the_same_request(store, tiny_request, output_format, suffix, pil_format):
    request = replace(tiny_request, output_format=output_format, output_quality=80, prompt="ünïcode prompt, 東京")
    record = store.save(picture(), request)
    assert Path(record.path).suffix == suffix
    with Image.open(record.path) as image:
        assert image.format == pil_format
        assert read_request(image) == request  # the studio JSON, from XMP
        assert parameters_text(image) == a1111_parameters(request)  # the A1111 line, from EXIF UserComment
        assert parameters_text(image).startswith("ünïcode prompt, 東京\n")
        fooocus_reads = image.getexif().get(0x9286)  # Fooocus: the first IFD's UserComment, as ASCII
        assert fooocus_reads == a1111_parameters(request).encode("ascii", "replace").decode()
    assert [r.path for r in store.history()] == [record.path]  # History lists them


def test_quality_changes_the_jpeg_and_is_checked_against_its_limit(store, tiny_request):
    low = store.save(picture(), replace(tiny_request, output_format="jpeg", output_quality=10, seed=1))
    high = store.save(picture(), replace(tiny_request, output_format="jpeg", output_quality=95, seed=2))
    assert Path(low.path).stat().st_size < Path(high.path).stat().st_size
    for field, value in (("output_quality", 0), ("output_quality", 101), ("output_format", "gif")):
        with pytest.raises(InvalidRequest) as caught:
            validate_request(replace(tiny_request, **{field: value}), None)
        assert caught.value.field == field


def test_neutral_output_settings_write_the_png_exactly_as_before(store, tiny_request):
    """The recorded JSON has no new keys while neutral, and the file is what the former writer made from
    the same texts (a PNG text chunk and an iTXt chunk, nothing else)."""
    record = store.save(picture(), tiny_request)
    data = json.loads(Image.open(record.path).text["studio"])["request"]
    assert "output_format" not in data and "output_quality" not in data
    assert GenerationRequest.from_dict(data) == tiny_request  # an old PNG (no such keys) re-makes as before
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", a1111_parameters(tiny_request))
    info.add_itxt("studio", studio_metadata(tiny_request))
    former = io.BytesIO()
    picture().save(former, format="PNG", pnginfo=info)
    assert Path(record.path).read_bytes() == former.getvalue()


def test_a_non_neutral_format_is_recorded(tiny_request):
    webp, quality = replace(tiny_request, output_format="webp"), replace(tiny_request, output_quality=60)
    assert webp.to_dict()["output_format"] == "webp" and quality.to_dict()["output_quality"] == 60
    assert [GenerationRequest.from_dict(r.to_dict()) for r in (webp, quality)] == [webp, quality]


def test_the_a1111_line_names_model_and_lora_hashes_taking_each_hash_once(tmp_path, tiny_request):
    model = tmp_path / "my model.safetensors"
    model.write_bytes(b"model weights" * 100)
    lora = tmp_path / "detail.safetensors"
    lora.write_bytes(b"lora weights")
    hashed = []

    def counting_sha256(path: Path) -> str:
        hashed.append(path.name)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    files = {"my, model": model}
    hashes = ResourceHashes(files.get, {"detail": lora}.get, FileHashes(counting_sha256))
    store = OutputStore(tmp_path / "out", hashes)
    request = replace(tiny_request, model="my, model", negative_prompt="blurry", loras=(LoraWeight("detail", 0.7),))
    for seed in range(3):
        store.space("user:x").save(picture(), replace(request, seed=seed))
    line = store.parameters_line(request)
    prompt, negative, settings = line.split("\n")
    assert prompt == "a red cube on a table <lora:detail:0.7>"  # A1111 and Civitai find LoRAs here
    assert negative == "Negative prompt: blurry"
    model_hash = hashlib.sha256(model.read_bytes()).hexdigest()[:10]
    lora_hash = hashlib.sha256(lora.read_bytes()).hexdigest()[:12]
    assert settings == (
        f"Steps: 2, Sampler: Euler, CFG scale: 5, Seed: 7, Size: 64x64, Model hash: {model_hash}, "
        f'Model: "my, model", Lora hashes: "detail: {lora_hash}", Version: sdxl-studio 0.1.0'
    )
    assert sorted(hashed) == ["detail.safetensors", "my model.safetensors"]  # once each, for 4 lines
    model.write_bytes(b"other weights, other size")  # a changed file is hashed again
    assert hashes.model_hash("my, model") == hashlib.sha256(model.read_bytes()).hexdigest()[:10]
    assert len(hashed) == 3



def test_hashes_are_kept_across_restarts_in_the_cache_file(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights")
    cache = tmp_path / ".cache" / "sha256.json"
    hashed = []

    def counting_sha256(path: Path) -> str:
        hashed.append(path)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    first = FileHashes(counting_sha256, cache).sha256(model)
    assert FileHashes(counting_sha256, cache).sha256(model) == first == hashlib.sha256(b"weights").hexdigest()
    assert len(hashed) == 1  # the second studio read it from the cache file
    cache.write_text("[not, json")  # a damaged cache is only a reason to hash again
    assert FileHashes(counting_sha256, cache).sha256(model) == first and len(hashed) == 2
