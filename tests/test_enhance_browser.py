"""Enhance and Mask from text in a real headless Chromium (issue 16): the Enhance checkbox opens its panel with
one tab per region, and the Inpaint tab's Mask from text row has the declared limits and warns, without locking
anything, when there is no picture yet. (Make mask on a picture is driven through its handler in
test_enhance_ui.py: the editor's upload round trip is too slow on a shared CPU to wait for here.)"""

from __future__ import annotations

import pytest
from playwright import sync_api

from studio.enhance_spec import region_limit

expect = sync_api.expect


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(60_000)
    page.goto(app_url)
    expect(page.locator("#studio-generate")).to_be_enabled(timeout=120_000)
    try:
        yield page
    finally:
        page.close()


def test_enhance_panel_and_mask_from_text_row_in_the_page(page, tmp_path):
    enhance_panel = page.locator("#studio-enhance-panel").first
    expect(enhance_panel).to_be_hidden()
    page.locator("#studio-enhance input[type=checkbox]").check()
    expect(enhance_panel).to_be_visible(timeout=30_000)
    for index in (1, 2, 3):
        expect(page.get_by_role("tab", name=f"Region {index}")).to_be_visible()
    page.locator("#studio-enhance-1-detect textarea").fill("face")
    page.screenshot(path=str(tmp_path / "enhance.png"), full_page=True)

    page.locator("#studio-input-image input[type=checkbox]").check()
    page.get_by_role("tab", name="Inpaint / Outpaint").click()
    expect(page.locator("#studio-mask-text textarea")).to_be_visible(timeout=30_000)
    threshold = page.locator("#studio-mask-text-threshold input[type=range]")
    assert float(threshold.get_attribute("max")) == region_limit("threshold").high
    page.locator("#studio-mask-text textarea").fill("face")
    page.locator("#studio-mask-text-make").click()
    toast = page.locator(".toast-body").filter(has_text="upload a picture to the editor first")
    expect(toast).to_be_visible(timeout=60_000)
    expect(page.locator("#studio-generate")).to_be_enabled()
