"""`python app.py` start-up failures: one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=300)


def test_default_model_offline_names_the_options(tmp_path):
    result = start_app("--offline", "--models-dir", str(tmp_path / "models"), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "stable-diffusion-xl-base-1.0" in result.stderr
    assert "--model" in result.stderr and "--models-dir" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_pickled_checkpoint_refused_at_start(tmp_path):
    checkpoint = tmp_path / "model.safetensors.ckpt"
    checkpoint.write_bytes(b"\x80\x04")
    result = start_app("--model", str(checkpoint), "--models-dir", str(tmp_path))
    assert result.returncode == 2 and "pickled" in result.stderr


def test_bad_port_is_named(tmp_path):
    result = start_app("--model", "tiny", "--port", "70000", "--models-dir", str(tmp_path))
    assert result.returncode == 2 and "--port" in result.stderr
