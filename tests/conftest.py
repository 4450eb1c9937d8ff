"""Shared fixtures: offline environment and a tiny studio built through the real loading code."""

from __future__ import annotations

import os

for key, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ[key] = value

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (skipped without one)")
    config.addinivalue_line("markers", "browser: drives a real headless Chromium")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_services(models_dir, tmp_path_factory):
    """A studio on the tiny random model, loaded once per test session (it is read-only for tests)."""
    from studio.services import build_services
    from studio.settings import Settings

    settings = Settings(model="tiny", models_dir=models_dir, output_dir=tmp_path_factory.mktemp("outputs"), device="cpu")
    return build_services(settings)


@pytest.fixture
def store(tmp_path):
    from studio.outputs import OutputStore

    return OutputStore(tmp_path / "outputs")


@pytest.fixture
def tiny_request():
    """A fast request for the tiny model: 2 steps at 64x64."""
    from studio.types import GenerationRequest

    return GenerationRequest(prompt="a red cube on a table", seed=7, width=64, height=64, steps=2, cfg_scale=5.0, sampler="Euler", model="tiny")
