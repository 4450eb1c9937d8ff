"""Masks from words and Enhance from the API and the command line (issue 16), on the tiny models; the tiny
detector finds the top-right quadrant whatever the words (see studio/segment/tiny_models.py)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.serving_helpers import FAST, api, b64
from tests.test_edit import picture


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def wait_done(client, job_id: str) -> dict:
    for _ in range(20):  # long polls: a loaded machine may need minutes
        done = client.get(f"/v1/jobs/{job_id}", params={"wait": 60}).json()
        if done["state"] not in ("queued", "running"):
            return done
    raise AssertionError(f"job {job_id} did not finish")


def test_api_mask_from_text_and_enhance(url):
    with api(url) as client:
        image = client.post("/v1/inputs", json={"image": b64(png_bytes(picture(48, 32)))}).json()["image"]
        answer = client.post("/v1/masks/from-text", json={"image": image, "text": "face", "threshold": 0.5, "grow": 0})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["png"]))).convert("L")) > 127
        assert mask.shape == (32, 48) and mask.sum() == body["pixels"] > 0
        assert not mask[:, :24].any() and not mask[16:].any()  # inside the detected box (top-right quadrant)
        # the mask is an input: an inpaint request names it
        job = client.post(
            "/v1/generate", json={**FAST, "prompt": "a cube", "seed": 3, "edit": {"kind": "inpaint", "image": image, "mask": body["mask"]}}
        ).json()
        assert wait_done(client, job["id"])["state"] == "done"
        # Enhance in a generate body, recorded in the image's metadata
        enhance = {"regions": [{"detect": "face", "prompt": "a smile", "strength": 0.6, "threshold": 0.5}], "order": "after_upscale"}
        job = client.post("/v1/generate", json={**FAST, "prompt": "a cube", "seed": 4, "enhance": enhance}).json()
        done = wait_done(client, job["id"])
        assert done["state"] == "done", done
        recorded = done["images"][0]["request"]["enhance"]
        assert recorded["regions"][0]["prompt"] == "a smile" and recorded["regions"][0]["strength"] == 0.6


@pytest.mark.parametrize(
    "body, field",
    [
        ({"text": "face", "threshold": 0.5}, "image"),
        ({"image": "IMAGE", "text": "face", "threshold": 0.99}, "threshold"),
        ({"image": "IMAGE", "text": "face", "grow": -1}, "grow"),
        ({"image": "IMAGE", "text": " . "}, "text"),
        ({"image": "IMAGE", "text": "face", "threshold": 0.9}, "text"),  # finds nothing
        ({"image": "IMAGE", "text": "face", "colour": 1}, "colour"),
    ],
)
def test_api_mask_from_text_bad_input_is_422_naming_the_field(url, body, field):
    with api(url) as client:
        image = client.post("/v1/inputs", json={"image": b64(png_bytes(picture(32, 32)))}).json()["image"]
        body = {key: image if value == "IMAGE" else value for key, value in body.items()}
        answer = client.post("/v1/masks/from-text", json=body)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text
        bad = client.post("/v1/generate", json={**FAST, "prompt": "x", "enhance": {"regions": [{"detect": "face", "grow": 999}]}})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "enhance.regions[0].grow"


def cli_common(models_dir) -> list[str]:
    return ["--model", "tiny", "--models-dir", str(models_dir), "--device", "cpu"]


def test_cli_mask_command_and_generate_with_mask_from_text_and_enhance(models_dir, tmp_path, capsys):
    from studio.cli import main
    from studio.outputs import read_request

    picture(64, 64).save(tmp_path / "in.png")
    common = cli_common(models_dir)
    assert main(["mask", str(tmp_path / "in.png"), "--text", "face", "--threshold", "0.5", "--grow", "0", *common]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    mask = np.asarray(Image.open(line["path"])) > 127
    assert line["pixels"] == mask.sum() > 0 and not mask[:, :32].any() and not mask[32:].any()

    run = [*common, "--out", str(tmp_path / "out"), "--steps", "2", "--seed", "1", "--sampler", "Euler", "--size", "64x64"]
    inpaint = ["--inpaint", str(tmp_path / "in.png"), "--mask-from-text", "face", "--mask-threshold", "0.5", "--mask-grow", "0", "--mask-text-grow", "0"]
    assert main(["generate", *run, *inpaint]) == 0
    saved = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["path"]
    before, after = np.asarray(picture(64, 64)), np.asarray(Image.open(saved).convert("RGB"))
    assert np.array_equal(before[~mask], after[~mask]) and not np.array_equal(before, after)

    enhance = ["--enhance", "face", "--enhance", "hands", "--enhance-strength", "0.5", "--enhance-prompt", "a smile", "--enhance-prompt", ""]
    assert main(["generate", *run, "--prompt", "a cube", *enhance, "--enhance-threshold", "0.5"]) == 0
    saved = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["path"]
    regions = read_request(saved).enhance.regions
    assert [r.detect for r in regions] == ["face", "hands"] and [r.prompt for r in regions] == ["a smile", ""]
    assert {r.strength for r in regions} == {0.5}

    assert main(["generate", *run, "--enhance", "face", "--enhance-strength", "3"]) == 2
    assert "--enhance-strength" in capsys.readouterr().err
    assert main(["generate", *run, "--enhance-grow", "3"]) == 2  # needs --enhance
    assert main(["generate", *run, "--mask-from-text", "face"]) == 2  # needs --inpaint


def test_api_mask_from_text_without_the_models_is_a_503_without_server_paths(url, served, monkeypatch):
    from studio.models import ModelUnavailable

    text_masks = served[2].engine.text_masks  # the served app's engine
    with api(url) as client:
        image = client.post("/v1/inputs", json={"image": b64(png_bytes(picture(32, 32)))}).json()["image"]

        def unavailable(*args, **kwargs):
            raise ModelUnavailable("Could not get 'IDEA-Research/grounding-dino-tiny'; copy its files into /srv/models/x")

        monkeypatch.setattr(text_masks, "mask", unavailable)
        answer = client.post("/v1/masks/from-text", json={"image": image, "text": "face"})
        assert answer.status_code == 503 and "/srv" not in answer.text and "console" in answer.json()["error"]["message"]
