"""`python app.py` start-up failures: one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)


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


def test_listen_or_share_without_auth_is_refused_before_loading_anything(tmp_path):
    for args in (("--listen",), ("--share",)):
        result = start_app("--model", "tiny", "--models-dir", str(tmp_path), *args)
        assert result.returncode == 2, args
        assert "--auth" in result.stderr and "--insecure" in result.stderr and "Traceback" not in result.stderr


def test_exposure_rules_of_the_settings():
    import pytest

    from studio.settings import Settings, SettingsError

    Settings(host="0.0.0.0", auth_users=(("a", "b"),))
    Settings(host="0.0.0.0", insecure=True)
    Settings(host="127.0.0.1")
    with pytest.raises(SettingsError, match="--cors-origin"):
        Settings(cors_origins=("*",))


def test_docker_and_colab_files_start_the_studio_with_auth():
    import json

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile
    assert "\nUSER studio" in dockerfile and "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    assert 'VOLUME ["/app/models", "/app/outputs"]' in dockerfile and '"--listen"' in dockerfile
    assert "COPY requirements.txt constraints.txt" in dockerfile  # the pins come with the requirements
    notebook = json.loads((ROOT / "notebooks" / "colab.ipynb").read_text())
    assert notebook["nbformat"] == 4 and all(cell["cell_type"] in ("markdown", "code") for cell in notebook["cells"])
    code = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "REPO_URL" in code and "pip install -q -r requirements.txt" in code
    assert '"--share", "--auth"' in code and "secrets.token_urlsafe" in code


def test_preset_model_absent_offline_is_named(tmp_path):
    result = start_app("--preset", "realistic", "--offline", "--models-dir", str(tmp_path / "models"))
    assert result.returncode == 2
    assert "SG161222/RealVisXL_V4.0" in result.stderr and "Traceback" not in result.stderr
    unknown = start_app("--preset", "no-such-preset", "--models-dir", str(tmp_path / "models"))
    assert unknown.returncode == 2 and "--preset" in unknown.stderr and "realistic" in unknown.stderr


def test_console_logging_shows_studio_progress_and_drops_one_false_alarm(capsys):
    import logging

    from studio.console_log import configure_console_logging

    configure_console_logging()
    configure_console_logging()  # idempotent: one handler, one filter
    studio = logging.getLogger("studio")
    assert sum(getattr(h, "studio_console", False) for h in studio.handlers) == 1
    logging.getLogger("studio.models").info("loaded tiny on cpu (float32)")
    assert "INFO studio.models: loaded tiny on cpu (float32)" in capsys.readouterr().err

    messages: list[str] = []
    kept = logging.Handler()
    kept.emit = lambda record: messages.append(record.getMessage())
    noisy = logging.getLogger("diffusers.models.modeling_utils")
    noisy.addHandler(kept)
    try:
        noisy.warning("There are modules in UNet2DConditionModel that should be kept in float32: []. Casting ...")
        noisy.warning("There are modules in UNet2DConditionModel that should be kept in float32: ['norm']. Casting")
    finally:
        noisy.removeHandler(kept)
    assert [message[-20:] for message in messages] == ["float32: ['norm']. Casting"[-20:]]
