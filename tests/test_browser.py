"""A real headless Chromium loads parameters from a PNG, types a prompt, clicks Generate and sees the images."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image

from studio.outputs import OutputStore
from studio.types import GenerationRequest
from studio.ui import build_ui
from studio.ui.banner import RANDOM_WEIGHTS_NOTICE

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

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
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "screenshot.png"
PROMPT = "a lighthouse on a cliff at dusk, oil painting"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tiny_services):
    demo = build_ui(tiny_services)
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        allowed_paths=[str(tiny_services.settings.output_dir)],
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no Chromium at /usr/bin/chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(app_url)
            yield page
        finally:
            browser.close()


def test_load_parameters_then_generate_in_a_real_browser(page, tiny_services, tmp_path):
    expect = sync_api.expect
    info = tiny_services.manager.info
    expect(page.get_by_text(RANDOM_WEIGHTS_NOTICE)).to_be_visible()

    # Load parameters: a PNG saved by the studio fills every setting (and unticks Random seed).
    seed = 2024
    recorded = GenerationRequest(
        prompt="loaded from a png", negative_prompt="blurry, text", image_count=4, seed=seed,
        width=info.default_size[0], height=info.default_size[1], steps=6, cfg_scale=6.5, sampler="Euler a",
        model=info.name,
    )  # fmt: skip
    saved = OutputStore(tmp_path).save(Image.new("RGB", info.default_size, "gray"), recorded).path
    page.get_by_role("tab", name="Load parameters").click()
    page.locator("#studio-load input[type=file]").set_input_files(saved)
    prompt_box = page.locator("#studio-prompt textarea")
    expect(prompt_box).to_have_value("loaded from a png")
    page.get_by_role("tab", name="Advanced").click()
    expect(page.get_by_label("Random seed")).not_to_be_checked()
    expect(page.locator("#studio-seed input")).to_have_value(str(seed))
    expect(page.get_by_label("number input for Steps")).to_have_value("6")
    expect(page.get_by_label("number input for Image count")).to_have_value("4")
    expect(page.get_by_label("Negative prompt")).to_have_value("blurry, text")

    # Type a prompt and generate: the gallery shows the four saved images.
    prompt_box.fill(PROMPT)
    page.locator("#studio-generate").click()
    # generous: the first run on a cold CPU pays torch's one-off start-up
    expect(page.locator("#studio-gallery img")).to_have_count(4, timeout=60_000)
    expect(page.locator("#studio-progress")).to_contain_text("Done: 4 of 4 images saved")

    made = [r for r in tiny_services.store.history(50) if r.request.prompt == PROMPT]
    assert sorted(r.seed for r in made) == [seed, seed + 1, seed + 2, seed + 3]
    assert all(Path(r.path).is_file() and r.request.sampler == "Euler a" and r.request.steps == 6 for r in made)

    expect(page.get_by_text(RANDOM_WEIGHTS_NOTICE)).to_be_visible()
    for close in page.locator(".toast-body button.toast-close").all():
        close.click()
    expect(page.locator(".toast-body")).to_have_count(0)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_live_preview_then_stop_keeps_the_session_going(page, tiny_services):
    """A long job streams its preview; Stop ends it early, and the page is ready for the next one."""
    expect = sync_api.expect
    before = len(tiny_services.store.history(500))
    steps = page.get_by_label("number input for Steps")
    steps.fill("150")
    steps.press("Tab")
    page.locator("#studio-prompt textarea").fill("a long job to stop")
    page.locator("#studio-generate").click()
    expect(page.locator("#studio-preview img")).to_be_visible()
    expect(page.locator("#studio-progress")).to_contain_text("step")
    page.locator("#studio-stop").click()
    expect(page.locator("#studio-progress")).to_contain_text("Stopped: 0 of 4 images saved", timeout=30_000)
    expect(page.locator("#studio-preview")).to_be_hidden()
    expect(page.locator("#studio-generate")).to_be_enabled()
    expect(page.locator("#studio-stop")).to_be_disabled()
    assert len(tiny_services.store.history(500)) == before
