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

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (skipped without one)")
    config.addinivalue_line("markers", "browser: drives a real headless Chromium")


def pytest_collection_modifyitems(config, items):
    """The GPU tier runs where CUDA is; on a CPU machine its tests are reported as skipped, by name."""
    import torch

    if torch.cuda.is_available():
        return
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="GPU tier: no CUDA device on this machine"))


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
    """A fast request for the tiny model: 2 steps at 64x64, on whatever model is loaded (it names none)."""
    from studio.types import GenerationRequest

    return GenerationRequest(
        prompt="a red cube on a table", seed=7, width=64, height=64, steps=2, cfg_scale=5.0, sampler="Euler"
    )


@pytest.fixture(scope="module")
def served(tiny_services):
    """The real app (API + UI, one job queue) with auth on, served by uvicorn on 127.0.0.1."""
    import dataclasses

    from tests.serving_helpers import TOKEN, USERS, serving

    settings = dataclasses.replace(tiny_services.settings, auth_users=USERS, api_tokens=(TOKEN,))
    services = dataclasses.replace(tiny_services, settings=settings)
    with serving(services) as (app, url):
        yield app, url, services


@pytest.fixture(scope="module")
def url(served):
    return served[1]


@pytest.fixture(scope="module")
def app_url(tiny_services):
    """The Gradio UI alone (no auth) on a free loopback port, for gradio_client and browser tests."""
    import socket

    from studio.ui import build_ui

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = build_ui(tiny_services)
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        allowed_paths=[str(tiny_services.settings.output_dir)],
        i18n=demo.i18n_instance,  # the page's translations (launch would drop them)
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    """A headless Debian Chromium, driven by Playwright (no browser download), for one test module."""
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), "the browser tier needs Debian's chromium: tests/test.sh installs it"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    """The tiny studio's page at a desktop size, one per module (its tests run in order on it)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app_url)
    yield page
    page.close()


@pytest.fixture(scope="module")
def widgets(tiny_services):
    """The page's widgets, built on the tiny studio, for handler tests that need no server."""
    import gradio as gr

    from studio.ui.layout import build_layout

    with gr.Blocks():
        return build_layout(tiny_services)


@pytest.fixture(scope="module")
def jobs(tiny_services):
    """A job queue on the tiny studio, closed after the module."""
    from studio.jobqueue import JobQueue

    queue = JobQueue(tiny_services.engine, tiny_services.store).start()
    yield queue
    queue.close()
