"""The page in a real headless Chromium: the prompt and Generate/Stop on the first screen of a desktop window and
a phone while a job's preview shows, a style search that clears, a preset applied once per choice, and a page
opened after a model switch that names the loaded model."""

from __future__ import annotations

import re
import socket
from contextlib import contextmanager

import pytest
from playwright import sync_api

from studio.ui import extra_events
from studio.ui.style_picker import filtered_choices

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
expect = sync_api.expect


@contextmanager
def opened(browser, url: str, viewport=DESKTOP, phone: bool = False):
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        yield page
    finally:
        context.close()


def on_screen(page, selector: str, viewport: dict) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], f"{selector} is off the side: {box}"
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], f"{selector} is below the fold: {box}"


@pytest.mark.parametrize("viewport, phone", [(DESKTOP, False), (PHONE, True)], ids=["desktop", "phone"])
def test_prompt_generate_and_stop_stay_on_the_first_screen_while_the_preview_shows(
    browser, app_url, viewport, phone, tmp_path
):
    with opened(browser, app_url, viewport, phone) as page:
        on_screen(page, "#studio-prompt textarea", viewport)  # the first screen: prompt and Generate, on a phone too
        on_screen(page, "#studio-generate", viewport)
        count = page.get_by_label("number input for Image count")  # a job long enough to watch its preview
        count.fill("32")
        count.press("Tab")
        page.locator("#studio-prompt textarea").fill("a long job to watch")
        page.locator("#studio-generate").click()
        expect(page.locator("#studio-preview img")).to_be_visible(timeout=60_000)
        expect(page.locator("#studio-stop")).to_be_enabled()
        page.screenshot(path=str(tmp_path / "preview.png"))  # kept by pytest's tmp_path, to look at
        for selector in ("#studio-prompt textarea", "#studio-generate", "#studio-stop"):
            on_screen(page, selector, viewport)
        page.locator("#studio-stop").click()
        expect(page.locator("#studio-generate")).to_be_enabled(timeout=60_000)


def test_clearing_the_style_search_lists_every_style_again(browser, app_url, tiny_services):
    library = tiny_services.engine.libraries.styles
    with opened(browser, app_url) as page:
        page.get_by_role("tab", name="Styles").click()
        styles = page.locator("#studio-styles input")
        options = page.get_by_role("option")

        def listed() -> int:
            styles.click()
            shown = options.count()
            page.keyboard.press("Escape")
            return shown

        everything = listed()
        search = page.locator("#studio-style-search input, #studio-style-search textarea").first
        search.press_sequentially("noir", delay=30)
        styles.click()
        expect(options).to_have_count(len(filtered_choices(library, "noir", [])))
        assert 0 < options.count() < everything
        page.keyboard.press("Escape")
        search.press("ControlOrMeta+a")  # deleting, as a person does: no character is typed
        search.press("Backspace")
        expect(search).to_have_value("")
        styles.click()
        expect(options).to_have_count(everything)


def test_choosing_a_preset_applies_it_once(browser, app_url, monkeypatch):
    applied: list[str] = []
    values_for = extra_events.preset_widget_values

    def counting(preset, *args, **kwargs):
        applied.append(preset.name)
        return values_for(preset, *args, **kwargs)

    monkeypatch.setattr(extra_events, "preset_widget_values", counting)
    with opened(browser, app_url) as page:
        negative = page.get_by_label("Negative prompt")
        page.locator("#studio-preset input").click()
        page.get_by_role("option", name="anime", exact=True).click()  # a mouse choice: the path that ran twice
        expect(negative).to_have_value(re.compile("lowres"))
        # A second choice by keyboard is the barrier: one handler runs these in order, so once its values
        # show, every run the first choice caused has finished.
        page.locator("#studio-preset input").focus()  # a toast may cover it: no mouse
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("default")
        page.keyboard.press("Enter")
        expect(negative).to_have_value("")
    assert applied == ["anime", "default"]


@contextmanager
def launched(services):
    from studio.ui import build_ui

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = build_ui(services)
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


def test_a_page_opened_after_a_model_switch_names_the_loaded_model(browser, tmp_path):
    from studio.services import build_services
    from studio.settings import Settings
    from studio.tiny import TINY_SEED, save_tiny_sdxl

    save_tiny_sdxl(tmp_path / "models" / "checkpoints" / "second", seed=TINY_SEED + 1)
    services = build_services(
        Settings(model="tiny", models_dir=tmp_path / "models", output_dir=tmp_path / "outputs", device="cpu")
    )
    with launched(services) as url:
        services.engine.switch_model("second")  # after the page was built, as a preset or a job does
        with opened(browser, url) as page:
            expect(page.locator("#studio-banner")).to_contain_text(re.compile(r"Model\s*second"))
            page.get_by_role("tab", name="Models").click()
            expect(page.locator("#studio-model input")).to_have_value("second")


@pytest.mark.parametrize("viewport, phone", [(DESKTOP, False), (PHONE, True)], ids=["desktop", "phone"])
@pytest.mark.parametrize("tool", ["Vary (Subtle)", "Upscale (2×)"])
def test_a_job_started_below_the_fold_brings_stop_into_view(browser, app_url, tmp_path, tool, viewport, phone):
    """Vary and Upscale sit far below the prompt: clicking one leaves Stop off-screen unless the page comes back
    up to the prompt row, where Stop and the job's progress are."""
    from PIL import Image

    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 64), "teal").save(picture)
    with opened(browser, app_url, viewport, phone) as page:
        page.get_by_label("Input Image").check()
        panel = page.locator("#studio-input-panel").first  # gradio gives the group's wrapper its id too
        expect(panel).to_be_visible()
        tab = panel.get_by_role("tab", name="Vary / Upscale")
        if tab.is_visible():
            tab.click()
        else:  # a phone: the tabs that do not fit are under "More tabs"
            panel.get_by_role("button", name="More tabs").click()
            panel.locator(".overflow-dropdown button", has_text="Vary / Upscale").click()
        page.locator("#studio-uov-image input[type=file]").set_input_files(picture)
        expect(page.locator("#studio-uov-image img")).to_be_visible()
        button = page.get_by_role("button", name=tool, exact=True)
        button.scroll_into_view_if_needed()
        expect(page.locator("#studio-stop")).not_to_be_in_viewport()  # the walk's situation: Stop is out of sight
        button.click()
        expect(page.locator("#studio-stop")).to_be_in_viewport(ratio=1)
        on_screen(page, "#studio-generate", viewport)
        expect(page.locator("#studio-generate")).to_be_enabled(timeout=120_000)  # the job ends; the page carries on
