"""Output formats, foreign metadata and user styles through the CLI, the HTTP API and the UI's fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from studio.cli import main
from studio.outputs import read_request
from studio.types import GenerationRequest
from studio.ui.fields import default_values, request_from_values, values_from_request
from studio.user_styles import reload_styles, user_styles_folder
from tests.foreign_images import FOOOCUS_A1111_TEXT, fooocus_image, png_with_texts
from tests.serving_helpers import FAST, WAIT, api, b64

A1111_PLAIN = (
    "a lighthouse at dusk\nNegative prompt: fog\n"
    "Steps: 3, Sampler: Euler a, CFG scale: 4.5, Seed: 321, Size: 64x64, Model: other, Clip skip: 2"
)


def generate(models_dir, out, *args: str) -> None:
    code = main(["generate", "--model", "tiny", "--models-dir", str(models_dir), "--out", str(out), "--device", "cpu",
                 *args])  # fmt: skip
    assert code == 0


def test_cli_from_an_a1111_image_with_options_winning_and_a_jpeg_remade_exactly(tmp_path, models_dir, capsys):
    source = tmp_path / "a1111.png"
    source.write_bytes(png_with_texts(parameters=A1111_PLAIN))
    generate(models_dir, tmp_path / "out", "--from-image", str(source), "--steps", "2", "--format", "jpeg", "--quality", "70")
    captured = capsys.readouterr()
    path = Path(json.loads(captured.out)["path"])
    assert path.suffix == ".jpg" and "ignored: Clip skip." in captured.err
    request = read_request(path)
    assert (request.prompt, request.negative_prompt, request.seed, request.cfg_scale) == ("a lighthouse at dusk", "fog", 321, 4.5)
    assert (request.sampler, request.steps, request.output_format, request.output_quality) == ("Euler a", 2, "jpeg", 70)
    generate(models_dir, tmp_path / "again", "--from-image", str(path))  # the studio's own JPEG re-makes itself
    again = Path(json.loads(capsys.readouterr().out)["path"])
    assert read_request(again) == request
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(path)))


def test_ui_fields_carry_the_output_format(tiny_services):
    info = tiny_services.manager.info
    values = {**default_values(info), "output_format": "webp", "output_quality": 50, "random_seed": False}
    request = request_from_values(values, info)
    assert (request.output_format, request.output_quality) == ("webp", 50)
    assert values_from_request(request)["output_format"] == "webp"
    assert request_from_values(default_values(info) | {"random_seed": False}, info).output_format == "png"


def test_api_webp_job_served_as_webp_and_its_metadata_remakes_the_request(url):
    with api(url, 0) as client:
        body = {"prompt": "a webp", "seed": 5, **FAST, "output_format": "webp", "output_quality": 80}
        job_id = client.post("/v1/generate", json=body).json()["id"]
        job = client.get(f"/v1/jobs/{job_id}", params=WAIT).json()
        assert job["state"] == "done", job
        image = client.get(job["images"][0]["url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
        reply = client.post("/v1/metadata", json={"image": b64(image.content)}).json()
        assert reply["source"] == "studio" and reply["ignored"] == [] and reply["note"] == ""
        recorded = GenerationRequest.from_dict(reply["request"])
        assert (recorded.output_format, recorded.output_quality, recorded.seed) == ("webp", 80, 5)
        resubmitted = client.post("/v1/generate", json=reply["request"]).json()["id"]
        again = client.get(client.get(f"/v1/jobs/{resubmitted}", params=WAIT).json()["images"][0]["url"])
        assert again.content == image.content
        bad = client.post("/v1/generate", json={"prompt": "x", **FAST, "output_format": "gif"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "output_format"


def test_api_metadata_reads_fooocus_and_a1111_images(url):
    with api(url, 0) as client:
        reply = client.post("/v1/metadata", json={"image": b64(png_with_texts(parameters=A1111_PLAIN))}).json()
        assert reply["source"] == "a1111" and reply["ignored"] == ["Clip skip"]
        assert (reply["request"]["seed"], reply["request"]["sampler"]) == (321, "Euler a")
        reply = client.post("/v1/metadata", json={"image": b64(fooocus_image(FOOOCUS_A1111_TEXT, "a1111"))}).json()
        assert reply["source"] == "fooocus" and reply["request"]["prompt"] == "a castle on a hill"
        assert "Sharpness" in reply["note"]


def test_api_style_refresh_lists_user_files_and_names_bad_ones(url, served):
    services = served[2]
    folder = user_styles_folder(services.settings.models_dir)
    folder.mkdir(exist_ok=True)
    good, bad = folder / "api_mine.json", folder / "api_bad.json"
    good.write_text(json.dumps([{"name": "Api Neon", "prompt": "neon {prompt}"}]))
    bad.write_text("not json")
    try:
        with api(url, 0) as client:
            reply = client.post("/v1/styles/refresh", json={}).json()
            assert reply["user_styles"] == 1 and len(reply["warnings"]) == 1 and "api_bad.json" in reply["warnings"][0]
            assert "Api Neon" in [style["name"] for style in client.get("/v1/styles").json()]
    finally:
        good.unlink()
        bad.unlink()
        reload_styles(services.engine)


def test_load_parameters_in_the_ui_fills_the_widgets_from_a_fooocus_image(tiny_services, tmp_path):
    import gradio as gr

    from studio.ui.events import load_handler
    from studio.ui.layout import build_layout
    from tests.foreign_images import fooocus_json_text, fooocus_png

    with gr.Blocks():
        widgets = build_layout(tiny_services)
    path = tmp_path / "fooocus.png"
    path.write_bytes(fooocus_png(fooocus_json_text(), "fooocus"))
    updates = load_handler(tiny_services, widgets)(str(path))
    settings = widgets.settings
    assert updates[settings["prompt"]] == "a castle on a hill" and updates[settings["styles"]] == ["Gothic"]
    assert updates[settings["seed"]] == "8761234567890123456" and updates[settings["expansion"]] == "local"
    assert updates[settings["sampler"]] == "DPM++ 2M SDE Karras" and updates[settings["output_format"]] == "png"


def test_the_services_store_writes_no_model_hash_for_a_model_without_a_file(tiny_services, tiny_request):
    line = tiny_services.store.parameters_line(tiny_request)
    assert tiny_services.store.hashes is not None and "Model hash" not in line and "Version: sdxl-studio" in line
