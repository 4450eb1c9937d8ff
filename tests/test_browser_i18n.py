"""A real headless Chromium with a Chinese locale sees the whole page in Chinese, and a refused job's error
toast and the job statuses in Chinese too (issue 18A)."""

from __future__ import annotations

import re

import pytest
from playwright import sync_api

from studio.translations import read_locale_file

pytestmark = pytest.mark.browser
expect = sync_api.expect
# English words a person could read on the page: what is left once the page's proper names are taken out
PROPER_NAMES = re.compile(
    r"SDXL Studio|tiny|cpu|float32|LoRA|LLM|CFG|PNG|API|Gradio|Quality|Speed|Extreme Speed|Lightning|Hyper-SD"
    r"|DPM\+\+ 2M SDE Karras|\d+×\d+|noir|watercolor|anime|python -m studio style-previews|<models-dir>/\w+"
    r"|http\S+|llama3\.2|\$OPENAI_API_KEY|i\b"
    r"|OpenCLIP ViT-bigG|CLIP ViT-L|CLIP|FreeU|ADM|TSNR|SDXL|Fooocus|A1111|JPEG|WebP|VAE"  # encoders, methods, formats
    r"|“default”|「default」|Karras"  # scheduler names
)


@pytest.fixture
def page_in(browser, app_url):
    """A page opened by a browser whose language is `locale`, as a person in Beijing or Taipei opens it."""
    contexts = []

    def open_page(locale: str):
        context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(app_url)
        expect(page.locator("#studio-generate")).to_be_enabled(timeout=30_000)  # a busy machine loads slowly
        return page

    yield open_page
    for context in contexts:
        context.close()


def test_a_chinese_browser_sees_the_whole_page_in_chinese(page_in, tmp_path):
    page = page_in("zh-CN")
    expect(page.locator("#studio-generate")).to_have_text("生成")
    expect(page.locator("#studio-prompt")).to_contain_text("提示词")
    for tab in ("设置", "风格", "模型", "高级", "读取参数", "结果", "历史记录", "比较采样器"):
        expect(page.get_by_role("tab", name=tab)).to_be_visible()
    expect(page.locator("#studio-banner")).to_contain_text("随机权重（微型测试模型）：图像只是噪声")  # page load's
    expect(page.locator("#studio-progress")).to_have_text("就绪。")
    page.get_by_role("tab", name="高级").click()
    expect(page.get_by_text("引导强度（CFG）")).to_be_visible()
    page.screenshot(path=str(tmp_path / "zh-CN.png"), full_page=True)
    # the main column and the settings column hold no English a person reads, only names (models, samplers)
    text = page.locator("#studio-banner").inner_text() + page.locator("main").inner_text()
    leftover = re.findall(r"[A-Za-z]{2,}", PROPER_NAMES.sub("", text))
    assert not leftover, leftover
    english = read_locale_file("zh-CN")
    assert "Negative prompt" in english and page.get_by_text("Negative prompt").count() == 0


def test_a_refused_job_is_explained_in_chinese_and_a_good_one_reports_in_chinese(page_in):
    page = page_in("zh-TW")
    expect(page.get_by_role("tab", name="進階")).to_be_visible()
    page.get_by_label("隨機種子").uncheck()
    page.locator("#studio-seed input").fill("abc")
    page.locator("#studio-prompt textarea").fill("a cat")  # English: a Chinese prompt would need the instruct model, not here offline
    page.locator("#studio-generate").click()
    toast = page.locator(".toast-body")
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text("種子：'abc' 不是整數。")
    expect(page.locator("#studio-generate")).to_be_enabled()

    page.locator("#studio-seed input").fill("5")
    page.get_by_role("tab", name="進階").click()
    steps = page.locator(".block", has_text="步數").locator("input[type=number]").first  # found by its label
    steps.fill("2")
    steps.press("Tab")
    page.locator("#studio-generate").click()
    expect(page.locator("#studio-progress")).to_contain_text("完成：已儲存 1/1 張圖像 · 種子 5", timeout=60_000)


def test_language_option_shows_an_english_browser_the_page_in_traditional_chinese(browser, tiny_services):
    """`--language zh-TW`: an en-US browser gets the page, and the server's messages, in 繁體中文."""
    import dataclasses
    import socket

    from studio.ui import build_ui

    settings = dataclasses.replace(tiny_services.settings, language="zh-TW")
    demo = build_ui(dataclasses.replace(tiny_services, settings=settings))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True, i18n=demo.i18n_instance)
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(demo.local_url)
        expect(page.locator("#studio-generate")).to_have_text("生成", timeout=30_000)
        expect(page.get_by_role("tab", name="進階")).to_be_visible()
        expect(page.locator("#studio-progress")).to_have_text("就緒。")
        page.get_by_label("隨機種子").uncheck()
        page.locator("#studio-seed input").fill("x1")
        page.locator("#studio-generate").click()
        expect(page.locator(".toast-body")).to_contain_text("種子：'x1' 不是整數。")
    finally:
        context.close()
        demo.close()
