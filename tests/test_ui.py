"""The Gradio app on the tiny model, launched for real on 127.0.0.1 and driven with gradio_client."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from studio.outputs import read_request
from studio.styles import RANDOM_STYLE
from studio.types import GUIDANCE_FIELDS, GenerationRequest, InvalidRequest, LoraWeight, limit_of
from studio.ui.fields import (
    FIELD_NAMES,
    LORA_SLOTS,
    NO_LORA,
    aspect_ratio_choices,
    load_values,
    lora_values,
    request_from_values,
    size_label,
)

FAST = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "sampler": "Euler"}


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_generate_endpoint_saves_one_png_per_image_with_consecutive_seeds(client, tiny_services):
    seed = 424242
    reply = client.predict(prompt="a red cube on a table", image_count=2, seed=seed, api_name="/generate", **FAST)

    assert [image["seed"] for image in reply["images"]] == [seed, seed + 1]
    output_dir = Path(tiny_services.settings.output_dir).resolve()
    for image, image_seed in zip(reply["images"], (seed, seed + 1)):
        saved = Path(image["saved_path"])
        assert saved.is_file() and output_dir in saved.resolve().parents
        with Image.open(saved) as png:
            assert png.format == "PNG" and png.size == (64, 64)
        recorded = read_request(saved)
        assert (recorded.seed, recorded.prompt, recorded.image_count, recorded.steps) == (
            image_seed,
            "a red cube on a table",
            1,
            2,
        )
        assert recorded.model == tiny_services.manager.info.name
        # gradio_client downloaded the same file
        assert Path(image["file"]).read_bytes() == saved.read_bytes()
    assert reply["request"]["seed"] == seed and reply["request"]["image_count"] == 2


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"prompt": "x" * 5000}, "prompt"),
        ({"width": 63}, "width"),
        ({"sampler": "Nope"}, "sampler"),
    ],
)
def test_bad_values_are_errors_naming_the_field_and_the_app_keeps_serving(client, bad, field):
    values = {"prompt": "a cube", "image_count": 1, "seed": 1, **FAST, **bad}
    with pytest.raises(AppError) as caught:
        client.predict(api_name="/generate", **values)
    assert str(caught.value).startswith(f"{field}:")
    reply = client.predict(prompt="still alive", image_count=1, seed=3, api_name="/generate", **FAST)
    assert len(reply["images"]) == 1 and Path(reply["images"][0]["saved_path"]).is_file()


def test_request_from_values_reads_widgets_by_name(tiny_services):
    info = tiny_services.manager.info
    values = {
        "prompt": "a lighthouse",
        "negative_prompt": "blurry",
        "image_count": 3.0,  # sliders may send floats
        "seed": " 12345678901234567 ",  # text: beyond a browser's exact integers
        "random_seed": False,
        "aspect_ratio": "72x56",
        "steps": 4,
        "cfg_scale": 6,
        "sampler": "DDIM",
        "styles": ["Film Noir", RANDOM_STYLE],
        "performance": "Lightning",
        "expansion": "local",
        "expanded_prompt": "   ",  # blank: the prompt is used and expanded
        "model": info.name,
        **{name: NO_LORA for name, _ in LORA_SLOTS},
        **{weight: 0.5 for _, weight in LORA_SLOTS},
        "lora_2": "detail",
        "lora_2_weight": -0.7,
        **{name: getattr(GenerationRequest(), name) for name in GUIDANCE_FIELDS},  # 15A
        "sharpness": 2,
        "clip_skip": 1.0,  # sliders may send floats
        "output_format": "png",  # 15D
        "output_quality": 95,
        # 15B: neutral scheduler, VAE and refiner
        "scheduler": "default",
        "vae": "Checkpoint's own",
        "refiner": "No refiner",
        "refiner_switch": 0.8,
        "translate": "always",
        "disable_seed_increment": True,  # 15c
        "wildcards_in_order": False,
    }
    assert set(values) == set(FIELD_NAMES)
    request = request_from_values(values, info)
    assert request == GenerationRequest(
        prompt="a lighthouse",
        negative_prompt="blurry",
        image_count=3,
        seed=12345678901234567,
        width=72,
        height=56,
        steps=4,
        cfg_scale=6.0,
        sampler="DDIM",
        model=info.name,
        styles=("Film Noir", RANDOM_STYLE),
        loras=(LoraWeight("detail", -0.7),),
        performance="Lightning",
        expansion="local",
        sharpness=2.0,
        clip_skip=1,
        translate="always",
        disable_seed_increment=True,
    )
    # text in the expanded-prompt box is the prompt exactly as edited, and nothing expands it again
    edited = request_from_values({**values, "expanded_prompt": " a lighthouse, dramatic sky "}, info)
    assert (edited.prompt, edited.expansion) == ("a lighthouse, dramatic sky", "none")
    assert edited.styles == request.styles and edited.loras == request.loras
    # missing names take the declared defaults at the model's default size; random seed draws fresh seeds
    drawn = {request_from_values({"prompt": "p", "random_seed": True}, info).seed for _ in range(3)}
    assert len(drawn) == 3
    default = request_from_values({"prompt": "p", "random_seed": False}, info)
    assert (default.width, default.height) == info.default_size and default.steps == GenerationRequest().steps
    for bad, field in [
        ({"seed": "12a"}, "seed"),
        ({"steps": 2.5}, "steps"),
        ({"aspect_ratio": "wide"}, "aspect_ratio"),
        ({"stepz": 3}, "stepz"),
        ({"performance": "Turbo"}, "performance"),
        ({"expansion": "gpt"}, "expansion"),
        ({"styles": "Film Noir"}, "styles"),
        ({"lora_1": "x", "lora_1_weight": "heavy"}, "lora_1_weight"),
        ({"clip_skip": 1.5}, "clip_skip"),
        ({"sharpness": "sharp"}, "sharpness"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            request_from_values({"random_seed": False, **bad}, info)
        assert caught.value.field == field


def test_aspect_ratio_labels_use_the_reduced_ratio(tiny_services):
    info = tiny_services.manager.info
    assert size_label(1152, 896) == "1152×896 (9:7)" and size_label(1024, 1024) == "1024×1024 (1:1)"
    choices = {value: label for label, value in aspect_ratio_choices(info)}
    assert len(choices) == len(info.native_sizes)
    assert choices["{}x{}".format(*info.default_size)].endswith("(1:1)")


def english_label(label) -> str:
    """A label as the code wrote it, also when the page translates it (gradio's "__i18n__{...}" marker)."""
    text = str(label)
    return json.loads(text.removeprefix("__i18n__"))["key"] if text.startswith("__i18n__") else text


def test_slider_limits_come_from_the_declared_limits(app_url, client):
    config = client.config
    slider_props = [c["props"] for c in config["components"] if c.get("type") == "slider"]
    sliders = {english_label(props["label"]): props for props in slider_props}
    for label, name in [("Steps", "steps"), ("Image count", "image_count"), ("Guidance (CFG)", "cfg_scale")]:
        assert (sliders[label]["minimum"], sliders[label]["maximum"]) == (limit_of(name).low, limit_of(name).high)


def test_load_parameters_fills_every_field_from_a_saved_png(tiny_services, store, tmp_path):
    info = tiny_services.manager.info
    request = GenerationRequest(
        prompt="a loaded prompt", negative_prompt="fog", image_count=1, seed=987654321, width=72, height=56,
        steps=9, cfg_scale=3.5, sampler="UniPC", model=info.name, performance="Quality",
        loras=(LoraWeight("mine", 0.6), LoraWeight("gone", 1.2)),
    )  # fmt: skip
    record = store.save(Image.new("RGB", (72, 56), "blue"), request)
    values, warnings = load_values(record.path, info, lora_names=("mine", "other"))
    assert len(warnings) == 1 and "gone" in warnings[0], "a LoRA missing from the folder is left out, with a warning"
    assert values == {
        "prompt": "a loaded prompt",
        "negative_prompt": "fog",
        "image_count": 1,
        "seed": "987654321",
        "random_seed": False,
        "aspect_ratio": "72x56",
        "steps": 9,
        "cfg_scale": 3.5,
        "sampler": "UniPC",
        "styles": [],
        "performance": "Quality",
        "expansion": "none",
        "expanded_prompt": "",
        "translate": "off",
        "model": info.name,
        **lora_values([LoraWeight("mine", 0.6)]),
        **{name: getattr(request, name) for name in GUIDANCE_FIELDS},  # 15A: the sampling-loop look
        "output_format": "png",  # 15D
        "output_quality": 95,
        # 15B: neutral scheduler, VAE and refiner
        "scheduler": "default",
        "vae": "Checkpoint's own",
        "refiner": "No refiner",
        "refiner_switch": 0.8,
        "disable_seed_increment": False,  # 15c
        "wildcards_in_order": False,
    }
    assert values["lora_1"] == "mine" and values["lora_2"] == NO_LORA
    # the loaded widgets re-make the same request (less the LoRA this studio does not have)
    assert request_from_values(values, info) == replace(request, loras=(LoraWeight("mine", 0.6),))

    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(InvalidRequest) as caught:
        load_values(plain, info)
    assert caught.value.field == "image"


def test_preview_is_enlarged_with_whole_pixels_and_progress_names_image_and_step():
    import numpy as np

    from studio.types import ProgressEvent
    from studio.ui.generation import progress_text, scaled_preview

    small = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    big = scaled_preview(small)
    assert big.shape == (320, 240, 3) and np.array_equal(big[::40, ::40], small)
    assert scaled_preview(None) is None
    assert progress_text(ProgressEvent(1, 2, 3, 4)) == "Image 2/2 · step 3/4"


def test_the_page_starts_with_fooocus_look_while_a_request_without_it_stays_neutral(app_url, client):
    from studio.types import FOOOCUS_LOOK
    from studio.ui.guidance_fields import GUIDANCE_LABELS

    sliders = {english_label(c["props"]["label"]): c["props"] for c in client.config["components"] if c.get("type") == "slider"}
    assert {name: sliders[GUIDANCE_LABELS[name]]["value"] for name in FOOOCUS_LOOK} == FOOOCUS_LOOK
    assert all(getattr(GenerationRequest(), name) != value for name, value in FOOOCUS_LOOK.items() if name != "adm_scale_end")
