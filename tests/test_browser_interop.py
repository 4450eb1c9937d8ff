"""A real headless Chromium: a user style file refreshed in, WebP output chosen and generated, and a Fooocus
image loaded into the fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright import sync_api

from studio.user_styles import reload_styles, user_styles_folder
from tests.foreign_images import fooocus_json_text, fooocus_png

pytestmark = pytest.mark.browser
SHOT = Path("/tmp/15d-browser.png")


def test_user_style_webp_output_and_a_fooocus_image_in_a_real_browser(page, tiny_services, tmp_path):
    expect = sync_api.expect
    folder = user_styles_folder(tiny_services.settings.models_dir)
    folder.mkdir(exist_ok=True)
    style_file = folder / "browser_mine.json"
    style_file.write_text(json.dumps([{"name": "Browser Neon", "prompt": "neon sign of {prompt}"}]))
    try:
        page.get_by_role("tab", name="Styles").click()
        page.locator("#studio-styles-refresh").click()
        expect(page.get_by_text("1 user style(s) listed, from the styles folder of --models-dir.")).to_be_visible()
        box = page.locator("#studio-styles input")
        box.click()
        box.fill("Browser Neon")
        page.get_by_role("option", name="Browser Neon").first.click()
        expect(page.locator("#studio-style-templates")).to_contain_text("neon sign of {prompt}")

        page.get_by_role("tab", name="Advanced").click()
        page.get_by_label("number input for Steps").fill("2")
        page.get_by_label("number input for Steps").press("Tab")
        page.locator("#studio-output-format input").click()
        page.get_by_role("option", name="WebP").click()
        page.screenshot(path=str(SHOT))
        page.locator("#studio-prompt textarea").fill("a harbour")
        page.locator("#studio-generate").click()
        expect(page.locator("#studio-progress")).to_contain_text("Done", timeout=60_000)
        made = [r for r in tiny_services.store.history(50) if r.request.prompt == "neon sign of a harbour"]
        assert made and all(r.path.endswith(".webp") and r.request.output_format == "webp" for r in made)
    finally:
        style_file.unlink()
        reload_styles(tiny_services.engine)

    fooocus = tmp_path / "fooocus.png"
    fooocus.write_bytes(fooocus_png(fooocus_json_text(), "fooocus"))
    page.get_by_role("tab", name="Load parameters").click()
    page.locator("#studio-load input[type=file]").set_input_files(str(fooocus))
    expect(page.locator("#studio-prompt textarea")).to_have_value("a castle on a hill")
    expect(page.get_by_text("these have no match here and were ignored").first).to_be_visible()
