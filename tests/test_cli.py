"""The command line: generate writes PNGs with metadata and prints JSON lines; bad input exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.outputs import read_request
from studio.schedulers import SAMPLER_NAMES

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)


def test_generate_writes_pngs_and_json_lines(tmp_path, models_dir, capsys):
    out = tmp_path / "out"
    code = main(["generate", "--model", "tiny", "--models-dir", str(models_dir), "--prompt", "a lighthouse at dusk",
                 "--seed", "42", "--images", "2", "--size", "64x48", "--steps", "2", "--cfg", "4", "--sampler", "DDIM",
                 "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["seed"], line["width"], line["height"]) for line in lines] == [(42, 64, 48), (43, 64, 48)]
    for line in lines:
        path = Path(line["path"])
        assert path.parent.parent == out and path.suffix == ".png"
        request = read_request(path)
        assert (request.prompt, request.sampler, request.steps, request.cfg_scale, request.model) == (
            "a lighthouse at dusk", "DDIM", 2, 4.0, "tiny")
        assert Image.open(path).size == (64, 48)


def test_cli_and_engine_make_the_same_pixels(tmp_path, models_dir, tiny_services, tiny_request, capsys):
    code = main(["generate", "--model", "tiny", "--models-dir", str(models_dir), "--prompt", tiny_request.prompt,
                 "--seed", str(tiny_request.seed), "--size", "64x64", "--steps", "2", "--cfg", "5", "--sampler", "Euler",
                 "--out", str(tmp_path), "--device", "cpu"])  # fmt: skip
    assert code == 0
    path = json.loads(capsys.readouterr().out)["path"]
    engine_image = tiny_services.engine.run(tiny_request).images[0].image
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), np.asarray(engine_image))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "0"], "steps: is 0; it must be between 1 and 150"),
        (["--cfg", "31"], "cfg_scale: is 31; it must be between 0 and 30"),
        (["--images", "33"], "image_count: is 33; it must be between 1 and 32"),
        (["--seed", "-5"], "seed: is -5"),
        (["--sampler", "Turbo"], "sampler: 'Turbo' is unknown"),
        (["--size", "big"], "size: 'big' is not WIDTHxHEIGHT"),
        (["--size", "63x64"], "width: is 63; it must be a multiple of 8"),
        (["--size", "512x512"], "width: is 512; it must be between 32 and 256"),
    ],
)
def test_bad_values_name_the_field_and_exit_2(tmp_path, models_dir, args, message, capsys):
    code = main(["generate", "--model", "tiny", "--models-dir", str(models_dir), "--out", str(tmp_path), "--device", "cpu", *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.png"))


def test_samplers_command_lists_the_table():
    result = run_cli("samplers")
    assert result.returncode == 0
    assert result.stdout.split("\n")[:-1] == list(SAMPLER_NAMES)


def test_pickled_checkpoint_is_refused(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"\x80\x04not really a pickle")
    result = run_cli("generate", "--model", str(checkpoint), "--models-dir", str(tmp_path), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "pickled" in result.stderr and "safetensors" in result.stderr


def test_default_model_offline_gives_one_clear_message(tmp_path):
    result = run_cli("generate", "--prompt", "x", "--models-dir", str(tmp_path / "empty"), "--out", str(tmp_path), "--offline")
    assert result.returncode == 2
    assert "stabilityai/stable-diffusion-xl-base-1.0" in result.stderr
    assert "--model" in result.stderr and "--models-dir" in result.stderr
    assert "Traceback" not in result.stderr
