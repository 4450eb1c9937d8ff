"""Issue 15 part C over HTTP: the seed/wildcard switches and the inpaint controls are request fields in the
schema, run as sent and are recorded; bad values are 422 naming the field."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.serving_helpers import FAST, WAIT, api, b64


def upload(client, image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return client.post("/v1/inputs", json={"image": b64(buffer.getvalue())}).json()["image"]


def test_switches_and_controls_run_and_are_recorded(url):
    with api(url) as client:
        schema = client.get("/v1/openapi.json").json()
        body = {**FAST, "prompt": "a [[red, blue]] cube", "seed": 5, "image_count": 2, "disable_seed_increment": True}
        job = client.post("/v1/generate", json=body).json()
        done = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert done["state"] == "done", done
        recorded = [image["request"] for image in done["images"]]
        assert [request["seed"] for request in recorded] == [5, 5]
        assert [request["prompt"] for request in recorded] == ["a red cube", "a blue cube"]
        picture = Image.new("RGB", (32, 32), (90, 120, 200))
        mask = Image.new("L", (32, 32), 0)
        mask.paste(255, (8, 8, 20, 20))
        edit = {
            "kind": "inpaint", "image": upload(client, picture), "mask": upload(client, mask), "mask_invert": True,
            "mask_grow": -2, "denoise": 0.5, "inpaint_context": 0.3, "inpaint_prompt": "moss",
        }  # fmt: skip
        job = client.post("/v1/generate", json={**FAST, "prompt": "stone", "seed": 1, "edit": edit}).json()
        done = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert done["state"] == "done", done
        request = done["images"][0]["request"]
        assert request["prompt"] == "moss, stone" and request["edit"]["inpaint_prompt"] == ""
        assert {key: request["edit"][key] for key in ("mask_invert", "mask_grow", "denoise", "inpaint_context")} == {
            "mask_invert": True, "mask_grow": -2, "denoise": 0.5, "inpaint_context": 0.3,
        }  # fmt: skip
    body_schema = schema["paths"]["/v1/generate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for name in ("disable_seed_increment", "wildcards_in_order"):
        assert body_schema["properties"][name]["type"] == "boolean" and body_schema["properties"][name]["default"] is False


@pytest.mark.parametrize(
    "body, field",
    [
        ({"disable_seed_increment": "yes"}, "disable_seed_increment"),
        ({"wildcards_in_order": 1}, "wildcards_in_order"),
        ({"edit": {"kind": "vary", "image": "a" * 64, "denoise": 2}}, "edit.denoise"),
        ({"edit": {"kind": "vary", "image": "a" * 64, "mask_invert": True}}, "edit.mask_invert"),
        ({"edit": {"kind": "inpaint", "image": "a" * 64, "mask": "b" * 64, "mask_grow": -999}}, "edit.mask_grow"),
    ],
)
def test_bad_values_are_422_naming_the_field(url, body, field):
    with api(url) as client:
        response = client.post("/v1/generate", json={**FAST, "prompt": "x", **body})
        assert response.status_code == 422 and response.json()["error"]["field"] == field
        assert client.get("/health").json()["status"] == "ok"
