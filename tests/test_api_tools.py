"""API routes for the features: lists, input uploads, expansion, sampler comparison, feature fields."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from studio.inputs import decode_image
from tests.serving_helpers import FAST, WAIT, api, b64, png_claiming


def png(color="red", size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_lists_are_filled(url):
    with api(url) as client:
        styles = client.get("/v1/styles").json()
        presets = {p["name"]: p for p in client.get("/v1/presets").json()}
        performance = {p["name"]: p for p in client.get("/v1/performance").json()}
        assert len(styles) >= 150 and {"name", "family", "prompt", "negative_prompt"} <= set(styles[0])
        assert presets["lightning"]["settings"]["performance"] == "Lightning"
        assert performance["Lightning"]["steps"] == 4 and performance["Lightning"]["forced"]
        assert client.get("/v1/loras").status_code == 200


def test_generate_with_styles_and_performance_fields(url):
    with api(url) as client:
        job = client.post("/v1/generate", json={**FAST, "prompt": "a cube", "seed": 11, "styles": ["Film Noir"], "performance": "Quality"}).json()
        done = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert done["state"] == "done"
        recorded = done["images"][0]["request"]
        assert "film noir" in recorded["prompt"].lower() and recorded["styles"] == []


@pytest.mark.parametrize(
    "body, field, status",
    [
        ({"prompt": "x", "styles": ["No Such Style"]}, "styles[0]", 422),
        ({"prompt": "x", "styles": "Film Noir"}, "styles", 422),
        ({"prompt": "x", "loras": [{"name": "../../secret", "weight": 1}]}, "loras[0].name", 422),
        ({"prompt": "x", "loras": [{"name": "a", "weight": 9}]}, "loras.a.weight", 422),
        ({"prompt": "x", "performance": "Ludicrous"}, "performance", 422),
        ({"prompt": "x", "expansion": "gpt"}, "expansion", 422),
        ({"prompt": "x __nope__"}, "prompt", 422),
    ],
)
def test_bad_feature_fields_are_422_naming_the_field(url, body, field, status):
    with api(url) as client:
        response = client.post("/v1/generate", json={**FAST, **body})
        assert response.status_code == status  # every name is checked before the job is queued
        assert response.json()["error"]["field"] == field
        assert client.get("/health").json()["status"] == "ok"


def test_input_upload_is_stored_by_hash(url, served):
    services = served[2]
    with api(url) as client:
        answer = client.post("/v1/inputs", json={"image": b64(png("blue"))})
        assert answer.status_code == 200
        digest = answer.json()["image"]
        assert services.engine.inputs.get(digest).getpixel((0, 0)) == (0, 0, 255)
        assert client.post("/v1/inputs", json={"image": b64(png("blue"))}).json()["image"] == digest


@pytest.mark.parametrize(
    "body, status",
    [
        ({"image": ""}, 422),
        ({"image": "not base64!"}, 422),
        ({"image": b64(b"GIF89a not really")}, 422),
        ({"image": b64(png_claiming(20000, 20000))}, 413),
        ({"image": b64(png())[:40]}, 422),
        ({"image": 5}, 422),
        ({"image": b64(png()), "path": "/etc/passwd"}, 422),
    ],
)
def test_bad_uploads_are_refused(url, body, status):
    with api(url) as client:
        response = client.post("/v1/inputs", json=body)
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] in ("image", "path")
        assert client.get("/health").json()["status"] == "ok"


def test_decode_image_limits():
    with pytest.raises(Exception, match="megapixels"):
        decode_image(png_claiming(5000, 5000), "image")
    assert decode_image(png(), "image").size == (16, 16)


def test_expand_without_a_model_offline_is_a_clear_502(url):
    with api(url) as client:
        response = client.post("/v1/expand", json={"prompt": "a cute robot", "seed": 1, "mode": "local"})
        assert response.status_code == 502
        assert "offline" in response.json()["error"]["message"].lower()
        assert client.post("/v1/expand", json={"prompt": 3}).status_code == 422


def test_compare_returns_a_grid_and_metrics(url):
    with api(url) as client:
        response = client.post("/v1/compare", json={"request": {"prompt": "a cube", "seed": 3, "width": 32, "height": 32},
                                                    "samplers": ["Euler", "DDIM"], "step_counts": [2, 4]})  # fmt: skip
        assert response.status_code == 200, response.text
        data = response.json()
        grid = Image.open(io.BytesIO(base64.b64decode(data["grid"])))
        assert grid.width > 2 * 32 and grid.height > 2 * 32
        assert {cell["sampler"] for cell in data["metrics"]["cells"]} == {"Euler", "DDIM"}
        assert all(not cell["path"].startswith("/") for cell in data["metrics"]["cells"])
        bad = client.post("/v1/compare", json={"request": {"prompt": "x"}, "samplers": ["Nope"], "step_counts": [2]})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "samplers"
