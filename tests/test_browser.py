"""A real headless Chromium loads parameters from a PNG, types a prompt, clicks Generate and sees the images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from playwright import sync_api

from studio.outputs import OutputStore
from studio.types import GenerationRequest
from studio.ui.banner import RANDOM_WEIGHTS_NOTICE

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "screenshot.png"
COMPARE_SCREENSHOT = SCREENSHOT.with_name("screenshot-compare.png")
PROMPT = "a lighthouse on a cliff at dusk, oil painting"


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
    page.get_by_role("tab", name="Setting").click()
    expect(page.get_by_label("Random seed")).not_to_be_checked()
    expect(page.locator("#studio-seed input")).to_have_value(str(seed))
    expect(page.get_by_label("number input for Image count")).to_have_value("4")
    expect(page.get_by_label("Negative prompt")).to_have_value("blurry, text")
    page.get_by_role("tab", name="Advanced").click()
    expect(page.get_by_label("number input for Steps")).to_have_value("6")

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
    # 4 × 150 steps take far longer than a Stop; on a loaded machine an image may still finish first, so
    # the check is that the job stopped early and what it reports saved is what was saved.
    progress = page.locator("#studio-progress")
    expect(progress).to_contain_text(re.compile(r"Stopped: [0-3] of 4 images saved"), timeout=60_000)
    saved = int(re.search(r"Stopped: (\d) of 4", progress.inner_text())[1])
    expect(page.locator("#studio-preview")).to_be_hidden()
    expect(page.locator("#studio-generate")).to_be_enabled()
    expect(page.locator("#studio-stop")).to_be_disabled()
    assert len(tiny_services.store.history(500)) == before + saved


def close_toasts(page) -> None:
    """Dismiss notices that could cover the tabs. A toast may close by itself meanwhile (it then turns inert
    and leaves the DOM), so a click that finds it gone is fine; what counts is that none is left."""
    for close in page.locator(".toast-body button.toast-close").all():
        try:
            close.click(timeout=2_000)
        except sync_api.TimeoutError:
            pass
    sync_api.expect(page.locator(".toast-body")).to_have_count(0, timeout=15_000)


def choose_style(page, name: str) -> None:
    box = page.locator("#studio-styles input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name).first.click()


def test_two_styles_then_a_sampler_comparison_in_a_real_browser(page, tiny_services):
    """Styles shape the recorded prompt; the Compare samplers tab runs a 2x2 grid and shows it."""
    expect = sync_api.expect
    page.get_by_role("tab", name="Setting").click()
    for label, value in (("number input for Image count", "1"),):
        page.get_by_label(label).fill(value)
        page.get_by_label(label).press("Tab")
    page.get_by_role("tab", name="Advanced").click()
    page.get_by_label("number input for Steps").fill("2")
    page.get_by_label("number input for Steps").press("Tab")

    page.get_by_role("tab", name="Styles").click()
    choose_style(page, "Film Noir")
    choose_style(page, "Watercolor Wash")
    templates = page.locator("#studio-style-templates")
    expect(templates).to_contain_text("Film Noir")
    expect(templates).to_contain_text("Watercolor Wash")
    expect(page.get_by_text("python -m studio style-previews")).to_be_visible()

    prompt = "a quiet harbour at night"
    page.locator("#studio-prompt textarea").fill(prompt)
    page.locator("#studio-generate").click()
    expect(page.locator("#studio-progress")).to_contain_text("Done: 1 of 1 image saved", timeout=60_000)
    made = [r for r in tiny_services.store.history(50) if prompt in r.request.prompt]
    assert len(made) == 1
    styled = made[0].request
    assert styled.prompt.startswith("watercolor painting, film noir still, " + prompt) and styled.styles == ()
    assert styled.loras == () and styled.expansion == "none"
    close_toasts(page)

    page.get_by_role("tab", name="Compare samplers").click()
    expect(page.locator("#studio-compare-samplers")).to_contain_text("DDIM")
    expect(page.locator("#studio-compare-samplers")).to_contain_text("Euler a")
    page.locator("#studio-compare-steps textarea, #studio-compare-steps input").first.fill("1,2")
    page.locator("#studio-compare-run").click()
    expect(page.locator("#studio-compare-grid img")).to_be_visible(timeout=60_000)
    expect(page.locator("#studio-compare-progress")).to_contain_text("Done: 4 of 4 cells")
    expect(page.locator("#studio-compare-table")).to_contain_text("Euler a")
    expect(page.locator("#studio-compare-run")).to_be_enabled()
    close_toasts(page)
    page.locator("#studio-compare-grid").scroll_into_view_if_needed()
    page.screenshot(path=str(COMPARE_SCREENSHOT), full_page=True)


def test_an_image_prompt_slot_previews_its_map_and_steers_the_generation(page, tiny_services, tmp_path):
    """Input Image opens the panel; a PyraCanny slot shows its edge map and is recorded with its hash."""
    expect = sync_api.expect
    page.get_by_role("tab", name="Advanced").click()
    page.get_by_label("number input for Steps").fill("2")
    page.get_by_label("number input for Steps").press("Tab")
    page.get_by_role("tab", name="Setting").click()
    page.get_by_label("Random seed").uncheck()
    page.locator("#studio-seed input").fill("31337")
    page.get_by_label("Input Image").check()
    expect(page.locator("#studio-input-panel").first).to_be_visible()
    source = tmp_path / "shapes.png"
    shapes = Image.new("RGB", (96, 80), "white")
    shapes.paste((20, 40, 160), (20, 16, 60, 56))
    shapes.save(source)
    page.locator("#studio-ip-1-image input[type=file]").set_input_files(str(source))
    page.locator("#studio-ip-1-type input").click()
    page.get_by_role("option", name="PyraCanny").click()
    expect(page.get_by_label("number input for Weight").first).to_have_value("1")  # PyraCanny's default
    expect(page.locator("#studio-ip-1-preview img")).to_be_visible(timeout=30_000)

    prompt = "a blue square, image prompt"
    page.locator("#studio-prompt textarea").fill(prompt)
    page.locator("#studio-generate").click()
    expect(page.locator("#studio-progress")).to_contain_text(re.compile(r"Done: .*seed 31337"), timeout=60_000)
    made = [r for r in tiny_services.store.history(50) if prompt in r.request.prompt]
    assert made and all(len(r.request.image_prompts) == 1 for r in made)
    slot = made[0].request.image_prompts[0]
    assert (slot.type, slot.weight, slot.stop_at) == ("PyraCanny", 1.0, 0.5)
    assert tiny_services.engine.inputs.get(slot.image).size == (96, 80)
    close_toasts(page)
    page.get_by_role("tab", name="Results").click()  # the gallery beside the panel, whatever ran before
    expect(page.locator("#studio-gallery img").first).to_be_visible()
    page.locator("#studio-ip-1-preview").scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
