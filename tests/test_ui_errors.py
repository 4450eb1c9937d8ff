"""The UI survives every error: a refused job gives the buttons back, no event paints red "Error" badges, each
error is one readable sentence naming its field, user mistakes log one line, and a running job's images show
as they are saved. Driven through a real headless Chromium and through the handlers themselves."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import gradio as gr
import pytest
from PIL import Image
from playwright import sync_api

from studio.jobqueue import JobQueue, JobState
from studio.types import InvalidRequest, limit_of
from studio.ui.generation import Finished, Saved, follow_job
from studio.ui.guard import guarded, guarded_stream
from studio.ui.messages import readable_text, user_message

expect = sync_api.expect
RAW_ERROR_TEXT = re.compile(r"Traceback|Error:|Exception|/tmp/|didn't return|InvalidRequest")


@pytest.fixture
def page(browser, app_url):
    """A fresh page per test: no toast or setting of another test is left on it."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app_url)
    expect(page.locator("#studio-generate")).to_be_enabled()
    try:
        yield page
    finally:
        page.close()


def toasts(page) -> sync_api.Locator:
    return page.locator(".toast-body")


def assert_no_error_shown(page) -> None:
    """No red "Error" badge on a widget, no error toast, no raw exception text anywhere on the page."""
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)
    expect(page.locator(".toast-body.error")).to_have_count(0)
    assert not RAW_ERROR_TEXT.search(page.locator("body").inner_text())


def set_number(page, tab: str, label: str, value: str) -> None:
    page.get_by_role("tab", name=tab).click()
    box = page.get_by_label(f"number input for {label}")
    box.fill(value)
    box.press("Tab")


@pytest.mark.browser
def test_a_refused_job_says_why_and_gives_the_buttons_back(page):
    page.get_by_label("Random seed").uncheck()
    page.locator("#studio-seed input").fill("abc")
    page.locator("#studio-prompt textarea").fill("a cube")
    page.locator("#studio-generate").click()
    expect(toasts(page)).to_have_count(1)
    expect(toasts(page)).to_contain_text("Seed: 'abc' is not a whole number.")
    expect(page.locator("#studio-generate")).to_be_enabled()
    expect(page.locator("#studio-stop")).to_be_disabled()
    expect(page.locator("#studio-skip")).to_be_disabled()
    assert_no_error_shown(page)

    # and the page carries on: the next job runs and ends with the buttons as they were
    page.locator("#studio-seed input").fill("5")
    set_number(page, "Advanced", "Steps", "2")
    set_number(page, "Setting", "Image count", "1")
    page.locator("#studio-generate").click()
    expect(page.locator("#studio-progress")).to_contain_text("Done: 1 of 1 image saved · seed 5", timeout=60_000)
    expect(page.locator("#studio-generate")).to_be_enabled()
    expect(page.locator("#studio-stop")).to_be_disabled()


@pytest.mark.browser
def test_closing_the_preset_list_without_a_choice_changes_nothing(page):
    preset = page.locator("#studio-preset input")
    preset.click()
    page.keyboard.press("Escape")
    page.locator("#studio-prompt textarea").click()  # the list closes with no choice: an `input` event
    # One preset event runs at a time, in order: once the next one's warning shows, the first one is done.
    preset.click()
    page.get_by_role("option", name="default").click()
    expect(toasts(page)).to_contain_text("Preset: 'default' uses the model")
    expect(page.get_by_text("didn't return enough output values")).to_have_count(0)
    assert_no_error_shown(page)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "content", "sentence"),
    [
        ("plain.png", "png without metadata", "Load parameters: this image holds no settings"),
        ("fake.png", b"this is a text file, renamed .png\n" * 20, "Load parameters: the file is not a PNG, JPEG or WebP image."),
    ],
    ids=["png-without-settings", "text-renamed-png"],
)
def test_load_parameters_with_a_file_it_cannot_use_says_one_sentence(page, tmp_path, name, content, sentence):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        Image.new("RGB", (64, 64), "gray").save(path)
    page.get_by_role("tab", name="Load parameters").click()
    page.locator("#studio-load input[type=file]").set_input_files(path)
    expect(toasts(page)).to_have_count(1)
    expect(toasts(page)).to_contain_text(sentence)
    expect(page.locator("#studio-load img")).to_have_count(0)  # the refused file is cleared
    assert_no_error_shown(page)


@pytest.mark.browser
def test_a_file_that_is_no_image_in_an_image_slot_is_refused_by_name(page, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image\n" * 50)
    page.get_by_label("Input Image").check()
    page.locator("#studio-ip-1-image input[type=file]").set_input_files(fake)
    expect(toasts(page)).to_contain_text("Image 1: the file is not a readable image.")
    assert_no_error_shown(page)
    expect(page.locator("#studio-generate")).to_be_enabled()


@pytest.mark.browser
def test_images_show_in_the_gallery_as_they_are_saved(page):
    page.get_by_label("Random seed").uncheck()
    page.locator("#studio-seed input").fill("77")
    set_number(page, "Advanced", "Steps", "40")
    set_number(page, "Setting", "Image count", "3")
    page.locator("#studio-prompt textarea").fill("one image after another")
    page.locator("#studio-generate").click()
    gallery = page.locator("#studio-gallery img")
    expect(gallery).to_have_count(1, timeout=60_000)  # the first image, while the others are being made
    expect(page.locator("#studio-stop")).to_be_enabled()
    expect(gallery).to_have_count(3, timeout=90_000)
    expect(page.locator("#studio-progress")).to_contain_text("Done: 3 of 3 images saved · seeds 77 to 79")
    expect(page.locator("#studio-gallery")).to_contain_text("77")  # captions: the seed alone, uncut


def test_follow_job_hands_over_each_image_as_it_is_saved(tiny_services, tiny_request):
    jobs = JobQueue(tiny_services.engine, tiny_services.store).start()
    try:
        job = jobs.submit(replace(tiny_request, image_count=2), "owner")
        items = [item for item in follow_job(jobs, job) if isinstance(item, (Saved, Finished))]
    finally:
        jobs.close()
    saved = [len(item.records) for item in items if isinstance(item, Saved)]
    assert saved and saved[0] == 1, "the first image is handed over before the job ends"
    assert isinstance(items[-1], Finished) and len(items[-1].records) == 2


class FailingEngine:
    """An engine whose every job fails with `error` once it runs (validation lets it through)."""

    def __init__(self, error: Exception):
        self.error = error

    def validate(self, request):
        return request

    def run(self, request, **_callbacks):
        raise self.error


@pytest.mark.parametrize(
    ("error", "level", "traceback"),
    [
        (InvalidRequest("image_prompts[0]", "no face was found in this image"), logging.WARNING, False),
        (KeyError("a bug"), logging.ERROR, True),
    ],
    ids=["user-mistake", "bug"],
)
def test_a_user_mistake_in_a_job_logs_one_line_and_a_bug_its_traceback(
    store, tiny_request, caplog, error, level, traceback
):
    studio_logger = logging.getLogger("studio")  # the console setup of a CLI test may have stopped propagation
    propagated, studio_logger.propagate = studio_logger.propagate, True
    jobs = JobQueue(FailingEngine(error), store).start()
    try:
        with caplog.at_level(logging.WARNING, logger="studio"):
            job = jobs.submit(tiny_request, "owner")
            assert jobs.wait_finished(job, 30)
    finally:
        jobs.close()
        studio_logger.propagate = propagated
    assert job.state is JobState.FAILED
    [record] = [record for record in caplog.records if "failed" in record.getMessage()]
    assert record.levelno == level and (record.exc_info is not None) == traceback
    if not traceback:
        assert readable_text(job.error) == "Image prompt 1: no face was found in this image."


def test_guarded_handlers_warn_and_leave_every_output_as_it_is():
    def refuse(**values):
        raise InvalidRequest("steps", "is 2.5; it must be a whole number")

    with pytest.warns(UserWarning, match=r"^Steps: 2.5 is not allowed; it must be a whole number\.$"):
        assert guarded("Generate", refuse)() == gr.skip()

    def stream():
        yield "started"
        raise RuntimeError("a bug")

    with pytest.warns(UserWarning, match="internal error"):
        updates = list(guarded_stream("Compare", stream, begin=lambda: "locked", end=lambda error: f"end {error}")())
    assert updates == ["locked", "started", "end a bug"], "the closing updates come after an error too"


def test_messages_name_the_field_as_the_page_does_and_hide_the_server():
    assert readable_text("image_prompts[0]: no face was found") == "Image prompt 1: no face was found."
    assert readable_text("model: 'mine' could not be loaded") == "Base model: 'mine' could not be loaded."
    shown = readable_text("Cannot read '/srv/models/loras/x.safetensors' (UnidentifiedImageError)")
    assert shown == "Cannot read 'x.safetensors'."
    assert readable_text("step 1/4 at http://localhost:8080/v1") == "Step 1/4 at http://localhost:8080/v1."
    with pytest.raises(InvalidRequest) as caught:
        limit_of("seed").check("seed", -1)
    assert (
        user_message(caught.value, "Generate")
        == "Seed: -1 is not allowed; it must be between 0 and 9223372036854775807."
    )


SPEED_LORA_OFFLINE = (  # three sentences, two server paths and a class name, as the engine words it
    "performance: Extreme Speed needs its speed LoRA. Could not get 'latent-consistency/lcm-lora-sdxl' from "
    "the Hugging Face hub (LocalEntryNotFoundError). Connect once so it can be downloaded into --models-dir "
    "(/srv/models), or copy its files into /srv/models/registry/latent-consistency--lcm-lora-sdxl."
)
SPEED_LORA_SHOWN = (
    "Performance: Extreme Speed needs its speed LoRA; could not get 'latent-consistency/lcm-lora-sdxl' from "
    "the Hugging Face hub; connect once so it can be downloaded into --models-dir, or copy its files into "
    "the folder the studio's console names."
)
NOT_LOADABLE = "could not be loaded as an SDXL checkpoint; it may be damaged, incomplete or another kind of model."


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (SPEED_LORA_OFFLINE, SPEED_LORA_SHOWN),
        # a diffusers folder without its class name: the KeyError's own words were shown
        (
            "model: 'broken' could not be loaded as an SDXL checkpoint ('_class_name')",
            f"Base model: 'broken' {NOT_LOADABLE}",
        ),
        # a text file named .safetensors: the safetensors library's words were shown
        (
            "model: 'junk' could not be loaded as an SDXL checkpoint (Error while deserializing header: header too small)",
            f"Base model: 'junk' {NOT_LOADABLE}",
        ),
    ],
    ids=["offline-speed-lora", "folder-without-class", "not-safetensors"],
)
def test_each_error_reads_as_one_sentence_without_the_loaders_words(text, shown):
    assert readable_text(text) == shown
    assert not RAW_ERROR_TEXT.search(shown) and shown.count(". ") == 0


def test_a_checkpoint_that_cannot_be_loaded_is_blamed_on_the_field_that_chose_it(tiny_services, tmp_path):
    from studio.models import ModelUnavailable

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\0" * 64)
    with pytest.raises(ModelUnavailable) as caught:
        tiny_services.manager.load(str(broken), "model")  # fails while reading: the loaded model stays
    assert "--model" not in str(caught.value) and str(tmp_path) not in str(caught.value)
    assert readable_text(str(caught.value)).startswith("Base model: 'broken.safetensors' could not be loaded")
    assert tiny_services.manager.info.name == "tiny"


def test_the_page_names_the_models_folders_without_the_servers_path(tiny_services):
    import json

    from studio.ui import build_ui

    page = json.dumps(build_ui(tiny_services).config, default=str)
    assert "<models-dir>/checkpoints" in page and "<models-dir>/loras" in page
    assert str(tiny_services.settings.models_dir) not in page
