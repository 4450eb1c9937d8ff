"""Load parameters from images A1111 and Fooocus made: mapped onto the request, what is ignored named."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio.foreign_metadata import parse_parameters, read_settings, studio_sampler
from studio.outputs import OutputStore
from studio.types import GenerationRequest, InvalidRequest, LoraWeight
from studio.ui.events import read_loadable
from tests.foreign_images import (
    A1111_TEXT,
    FOOOCUS_A1111_TEXT,
    a1111_jpeg,
    fooocus_image,
    fooocus_json_text,
    fooocus_png,
    png_with_texts,
)

STYLES = ("Gothic", "Film Noir")


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize("data", [png_with_texts(parameters=A1111_TEXT), a1111_jpeg(A1111_TEXT)], ids=["png", "jpeg"])
def test_an_a1111_image_maps_onto_the_request_and_names_what_it_ignores(data):
    imported = read_settings(opened(data), STYLES)
    request = imported.request
    assert imported.source == "a1111"
    # the inline LoRA tag stays in the prompt: the studio applies `<lora:name:w>` itself
    assert request.prompt == "photo of a lighthouse, <lora:add_detail:0.5>, golden hour"
    assert request.negative_prompt == "(worst quality:1.4), lowres"
    assert (request.steps, request.cfg_scale, request.seed) == (28, 6.5, 1234567890)
    assert (request.width, request.height, request.model) == (832, 1216, "sd_xl_base_1.0")
    assert request.sampler == "DPM++ 2M Karras"  # A1111 1.9's separate "Schedule type" folded in
    assert imported.ignored == ("VAE", "Denoising strength", "Clip skip", "Hires upscale", "Hires upscaler")
    assert imported.note == (
        "Read A1111 settings; these have no match here and were ignored: "
        "VAE, Denoising strength, Clip skip, Hires upscale, Hires upscaler."
    )


@pytest.mark.parametrize(
    "data",
    [fooocus_png(fooocus_json_text(), "fooocus"), fooocus_image(fooocus_json_text(), "fooocus", "JPEG"),
     fooocus_image(fooocus_json_text(), "fooocus", "WEBP")],
    ids=["png", "jpeg", "webp"],
)  # fmt: skip
def test_a_fooocus_json_image_maps_prompt_styles_loras_and_performance(data):
    imported = read_settings(opened(data), STYLES)
    request = imported.request
    assert imported.source == "fooocus"
    assert (request.prompt, request.negative_prompt) == ("a castle on a hill", "blurry")  # raw, not styled
    assert request.styles == ("Gothic",)
    assert request.expansion == "local"  # "Fooocus V2" is Fooocus's prompt expansion
    assert request.seed == 8761234567890123456  # a string beyond a float's precision, kept exactly
    assert (request.width, request.height, request.steps, request.cfg_scale) == (1152, 896, 30, 4.0)
    assert request.sampler == "DPM++ 2M SDE Karras" and request.performance == "Speed"
    assert request.model == "juggernautXL_v8Rundiffusion"
    assert request.loras == (LoraWeight("sd_xl_offset_example-lora_1.0", 0.1),)
    assert imported.ignored == (
        "adaptive cfg", "adm guidance", "clip skip", "refiner switch", "sharpness", "style Fooocus Enhance"
    )  # fmt: skip


@pytest.mark.parametrize(
    "data", [fooocus_png(FOOOCUS_A1111_TEXT, "a1111"), fooocus_image(FOOOCUS_A1111_TEXT, "a1111")], ids=["png", "jpeg"]
)
def test_fooocus_a1111_scheme_uses_the_raw_prompt_with_its_styles(data):
    imported = read_settings(opened(data), STYLES)
    request = imported.request
    assert imported.source == "fooocus"
    assert (request.prompt, request.negative_prompt, request.styles) == ("a castle on a hill", "blurry", ("Gothic",))
    assert (request.steps, request.seed, request.width, request.height) == (60, 1234, 896, 1152)
    assert (request.performance, request.sampler) == ("Quality", "DPM++ 2M SDE Karras")
    assert request.loras == (LoraWeight("sd_xl_offset_example-lora_1.0", 0.25),)
    assert imported.ignored == ("Sharpness", "ADM Guidance")


def test_python_reprs_are_read_by_pattern_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    hostile = fooocus_json_text().replace(
        "\"['Fooocus V2', 'Gothic', 'Fooocus Enhance']\"",
        f"\"['Gothic'] + [__import__('os').system('touch {marker}')]\"",
    )
    imported = parse_parameters(hostile, "fooocus", STYLES)
    assert not marker.exists()
    assert imported.request.styles == ("Gothic",)
    assert any(name.startswith("style touch") for name in imported.ignored)  # the quoted text is only a name


def test_values_outside_the_studio_limits_or_unknown_samplers_are_ignored_by_name():
    text = "a cat\nSteps: 500, Sampler: Restart, CFG scale: 7, Seed: -5, Size: 512x512"
    imported = parse_parameters(text)
    assert imported.request.steps == GenerationRequest().steps and imported.request.seed == 0
    assert imported.request.sampler == GenerationRequest().sampler
    assert imported.ignored == ("Steps (500)", "Sampler (Restart)", "Seed (-5)")


def test_sampler_names_map_with_their_schedule():
    assert studio_sampler("Euler a") == "Euler a"
    assert studio_sampler("DPM++ 2M", "Karras") == "DPM++ 2M Karras"
    assert studio_sampler("dpmpp_2m_sde_gpu", "karras") == "DPM++ 2M SDE Karras"
    assert studio_sampler("euler", "normal") == "Euler"
    assert studio_sampler("euler", "align_your_steps") is None  # a schedule the studio does not have
    assert studio_sampler("DPM++ 2M SDE") is None  # no plain (non-Karras) variant here


def test_a_studio_image_is_read_as_its_own_request_first(tmp_path, tiny_request):
    record = OutputStore(tmp_path).save(Image.new("RGB", (64, 64), "red"), tiny_request)
    with Image.open(record.path) as image:
        imported = read_settings(image)
    assert imported.source == "studio" and imported.request == tiny_request and imported.note == ""


def test_load_parameters_reads_foreign_images_and_refuses_images_without_settings(tmp_path):
    path = tmp_path / "a1111.jpg"
    path.write_bytes(a1111_jpeg(A1111_TEXT))
    imported = read_loadable(str(path), STYLES)
    assert imported.request.seed == 1234567890 and "Clip skip" in imported.note
    plain = tmp_path / "plain.webp"
    Image.new("RGB", (8, 8)).save(plain, format="WEBP")
    with pytest.raises(InvalidRequest) as caught:
        read_loadable(str(plain))
    assert caught.value.field == "Load parameters" and "Fooocus or A1111" in caught.value.message
