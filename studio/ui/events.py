"""Event wiring: what Generate, Stop, Skip, History and Load parameters do to the widgets.

Handlers get the settings by name (gradio's `inputs_kwargs`), never as a positional list, and keep the
per-session owner id, job and results in `gr.State`. Generate submits to the job queue the HTTP API shares
and shows the job's queue position, then its progress. The Generate event is callable by programs as the
undocumented `/ui_generate` (it is how tests drive two sessions); programs should use `/generate` or the
HTTP API.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.foreign_metadata import ImportedSettings, read_settings
from studio.image_formats import READABLE_PIL_FORMATS
from studio.inputs import ImageTooLarge, open_image
from studio.jobqueue import DEFAULT_MAX_QUEUED, JobQueue, JobState
from studio.types import GenerationRequest, ImageRecord, InvalidRequest
from studio.ui.banner import banner_html
from studio.ui.fields import aspect_ratio_choices, loadable_values, request_from_values
from studio.ui.generation import (
    Finished,
    Queued,
    Saved,
    follow_job,
    progress_text,
    queued_text,
    scaled_preview,
    seeds_text,
    summary_text,
)
from studio.ui.guard import guarded, guarded_stream, warn
from studio.ui.i18n import request_locale, say
from studio.ui.input_fields import input_values_from_request
from studio.ui.layout import Widgets
from studio.ui.messages import labelled, readable_text
from studio.ui.model_files import drop_missing_files
from studio.ui.preset_fields import performance_note
from studio.ui.session import NotLoggedIn, Owners, Session
from studio.ui.uploads import uploaded_path

if TYPE_CHECKING:
    from studio.services import Services

log = logging.getLogger(__name__)

# Handlers only wait on the shared job queue (its one worker runs the engine), so as many may wait as the
# queue holds; the queue, not gradio, decides the order and says "queue full".
QUEUE_CONCURRENCY = {"concurrency_id": "studio-jobs", "concurrency_limit": DEFAULT_MAX_QUEUED + 1}
HISTORY_LIMIT = 120
# Stop waits this long for the job to end before it says "Stopping…" (see `stop` in wire_events).
STOP_NOTICE_AFTER_S = 2.0


def gallery_caption(record: ImageRecord) -> str:
    """Short enough for a thumbnail: the seed alone (the progress line has every seed of the job in full)."""
    return str(record.seed)


def gallery_items(records: list[ImageRecord]) -> list[tuple[str, str]]:
    return [(record.path, gallery_caption(record)) for record in records]


def history_items(services: Services, owner: str | None) -> list[tuple[str, str]]:
    """History: `owner`'s own saved images (every image when logins are off), none without an owner."""
    if owner is None:
        return []
    return [(r.path, gallery_caption(r)) for r in services.store.space(owner).history(HISTORY_LIMIT)]


def history_handler(services: Services, owners: Owners):
    """`show_history(session, request)`: the History of whom the event acts for (see `Owners`)."""

    def show_history(session: Session, request: gr.Request | None = None) -> list[tuple[str, str]]:
        try:
            return history_items(services, owners.bind(session, request))
        except NotLoggedIn:
            return []

    return show_history


def job_runner(widgets: Widgets, jobs: JobQueue):
    """`run(session, request, action)`: a generator of widget updates that submits `request` to the shared
    queue and follows it to the end (seed, progress, live preview, each image in the gallery as it is
    saved). Generate, Vary and Upscale all run their requests through it; a refused request raises (the
    guard around the handler shows it), a failed job is warned about under `action`."""

    def run(session: Session, request: GenerationRequest, action: str = "Generate"):
        job = jobs.submit(request, session.owner_id())
        session.begin_job(job)
        yield {
            widgets.settings["seed"]: str(request.seed),  # a drawn random seed is shown, so it can be re-made
            widgets.progress: say(f"Queued {request.image_count} image(s) · {seeds_text(request)}"),
            widgets.preview: gr.update(value=None, visible=True),
            widgets.session: session,
        }
        shown: list[ImageRecord] = []  # this job's images already in the gallery

        def show_saved(records: tuple[ImageRecord, ...]) -> dict:
            session.add_results(list(records[len(shown) :]), after=shown[-1] if shown else None)
            shown[:] = records
            return {widgets.gallery: session.show(gallery_items(session.results)), widgets.session: session}

        try:
            for item in follow_job(jobs, job):
                if isinstance(item, Finished):
                    yield {
                        **show_saved(item.records),
                        widgets.progress: summary_text(item),
                        widgets.preview: gr.update(value=None, visible=False),
                    }
                    if item.state is JobState.FAILED:
                        warn(action, readable_text(item.error or "the job failed", request_locale()))
                elif isinstance(item, Saved):
                    yield show_saved(item.records)
                elif isinstance(item, Queued):
                    yield {widgets.progress: queued_text(item)}
                else:
                    yield {widgets.preview: scaled_preview(item.preview), widgets.progress: progress_text(item)}
        finally:
            session.end_job(job)

    return run


def job_outputs(widgets: Widgets) -> list[Any]:
    return [widgets.settings["seed"], widgets.progress, widgets.preview, widgets.gallery, widgets.session]


# A job started from below the fold (Vary and Upscale sit under the results) leaves Stop and the progress out of
# sight: the page comes back up to the prompt row, on the browser alone (no server round trip), when it must.
SHOW_STOP_JS = """() => {
  const stop = document.getElementById("studio-stop");
  if (!stop) return;
  const box = stop.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) {
    const row = document.getElementById("studio-prompt");
    row.style.scrollMarginTop = "12px";  // the whole row, Generate's edge too, not flush with the top
    row.scrollIntoView({block: "start", behavior: "instant"});
  }
}"""


def wire_job(
    trigger,
    handler,
    widgets: Widgets,
    services: Services,
    action: str,
    api_name: str | None = None,
    panel: bool = True,
) -> None:
    """Wire a button whose handler runs a job (see `job_runner`), guarded: the handler itself locks the
    buttons first and gives them back last, after an error too, with the header refreshed (a job may switch
    the model; History follows the gallery, see `wire_events`). The handler gets the session and every
    settings value (and, with `panel`, every Input Image value) by name. `api_name` makes a programs' twin
    whose outputs are the job's alone."""
    buttons = {widgets.generate: False, widgets.stop: True, widgets.skip: True}  # interactive while running

    def begin() -> dict:
        return {button: gr.update(interactive=running) for button, running in buttons.items()}

    def end(error: BaseException | None) -> dict:
        return {
            **{button: gr.update(interactive=not running) for button, running in buttons.items()},
            widgets.preview: gr.update(value=None, visible=False),
            widgets.banner: banner_html(services.manager.info),
        }

    common = {
        "inputs": [widgets.session],
        "inputs_kwargs": {**widgets.settings, **(widgets.inputs if panel else {})},
        "show_progress": "hidden",
        **QUEUE_CONCURRENCY,
    }
    if api_name:  # a program reads the job's outputs only; the page's buttons are not its to lock
        named = {"api_name": api_name, "api_visibility": "undocumented"}
        trigger(guarded_stream(action, handler), outputs=job_outputs(widgets), **named, **common)
        return
    outputs = [*job_outputs(widgets), *buttons, widgets.banner]
    # first: the page runs a trigger's listeners in order, each after the one before it has finished
    trigger(None, js=SHOW_STOP_JS, queue=False, api_visibility="private")
    trigger(guarded_stream(action, handler, begin, end), outputs=outputs, api_visibility="private", **common)


def generate_handler(services: Services, run_job, owners: Owners):
    """Generate: the settings and the Input Image panel (by name) -> a request, run by `run_job` for whom
    the event acts for (`owners`; the logged-in user when logins are on, also for programs' `/ui_generate`)."""

    def generate_in_ui(session: Session, request: gr.Request | None = None, **values: Any):
        owners.bind(session, request)
        # the model loaded now (presets switch it); input images are stored by hash for the request
        generation = request_from_values(values, services.manager.info, services.engine.inputs)
        yield from run_job(session, generation, "Generate")

    return generate_in_ui


def choice(dropdown: gr.Dropdown, value: str, choices: list) -> Any:
    """A dropdown's new value, with its choices re-listed if the page was built without that value."""
    built_with = [item[1] if isinstance(item, tuple) else item for item in dropdown.choices]
    return value if value in built_with else gr.update(choices=choices, value=value)


LOAD = "Load parameters"


def read_loadable(path: str, style_names: tuple[str, ...] | None = None) -> ImportedSettings:
    """The settings recorded in an uploaded PNG, JPEG or WebP (this studio's, Fooocus's or A1111's);
    InvalidRequest naming Load parameters if there are none."""
    try:
        image = open_image(Path(path).read_bytes(), LOAD, formats=READABLE_PIL_FORMATS)
    except ImageTooLarge:
        raise
    except (InvalidRequest, OSError):
        raise InvalidRequest(LOAD, "the file is not a PNG, JPEG or WebP image") from None
    try:
        return read_settings(image, style_names)
    except InvalidRequest as error:
        if error.field == "image":
            why = "this image holds no settings; images saved by this studio, Fooocus or A1111 can be loaded"
        else:
            why = f"its recorded settings are not valid ({labelled(error.field, error.message)})"
        raise InvalidRequest(LOAD, why) from None


def load_handler(services: Services, widgets: Widgets):
    """Load parameters: an uploaded studio PNG (its path, or gradio's unprocessed FileData) -> widget updates
    (settings, and the Input Image panel from the recorded input hashes), with a warning for whatever cannot
    be restored. Raises InvalidRequest for a file that is no studio PNG (the guard shows it)."""
    settings = widgets.settings

    def load_parameters(upload: Any) -> dict:
        path = uploaded_path(upload)
        if not path:
            return gr.skip()
        imported = read_loadable(path, services.engine.libraries.styles.names)
        request = imported.request
        models = services.manager.available_models()
        # the model that will re-make it: the recorded one if it is available (its sizes), else the loaded one
        info = services.manager.info_for(request.model) if request.model in models else services.manager.info
        lora_names = services.engine.libraries.loras.names()
        values, warnings = loadable_values(request, info, lora_names, models)
        warnings += drop_missing_files(values, services.engine.vaes.library.names(), services.manager.checkpoints.names())
        panel, missing = input_values_from_request(request, services.engine.inputs)
        for warning in [*warnings, *missing, *([imported.note] if imported.note else [])]:
            warn(LOAD, warning)
        gr.Info(say(f"Loaded the settings of seed {values['seed']}."), title=say(LOAD))
        updates = {settings[name]: value for name, value in values.items()}
        if "model" in values:  # a checkpoint added (or sizes changed) since the page was built: re-list
            updates[settings["model"]] = choice(settings["model"], values["model"], list(models))
        if "aspect_ratio" in values:
            updates[settings["aspect_ratio"]] = choice(
                settings["aspect_ratio"], values["aspect_ratio"], aspect_ratio_choices(info)
            )
        updates.update({widgets.inputs[name]: value for name, value in panel.items()})
        updates[widgets.extras["performance_note"]] = performance_note(values["performance"])
        updates[widgets.input_panel.tabs] = gr.Tabs(selected=panel["input_tab"])
        return updates

    return load_parameters


def wire_events(services: Services, widgets: Widgets, jobs: JobQueue, owners: Owners) -> None:
    settings = widgets.settings
    generate_in_ui = generate_handler(services, job_runner(widgets, jobs), owners)
    show_history = history_handler(services, owners)
    load_parameters = load_handler(services, widgets)

    def stop(session: Session) -> str | Any:
        if session.job is None:
            return gr.skip()
        job = jobs.cancel(session.job.id, session.owner)
        # A job that ends at once reports "Stopped: …" through its own stream; a "Stopping…" sent after that
        # would be the last word on the page, so it is shown only while the job is still finishing its step.
        if jobs.wait_finished(job, STOP_NOTICE_AFTER_S):
            return gr.skip()
        return say("Stopping after this step; finished images are kept…")

    def skip(session: Session) -> str | Any:
        if session.job is None:
            return gr.skip()
        jobs.skip(session.job.id, session.owner)
        return say("Skipping this image…")

    private = {"api_visibility": "private"}
    wire_job(widgets.generate.click, generate_in_ui, widgets, services, "Generate")
    # `/ui_generate` for programs (tests drive two sessions with it): the settings alone, positionally as
    # before; images reach programs' requests by hash through `/generate` and the HTTP API instead.
    api_trigger = gr.Button(visible=False, elem_id="studio-ui-generate-api")
    wire_job(api_trigger.click, generate_in_ui, widgets, services, "Generate", api_name="ui_generate", panel=False)
    widgets.stop.click(guarded("Stop", stop), inputs=widgets.session, outputs=widgets.progress, queue=False, **private)
    widgets.skip.click(guarded("Skip", skip), inputs=widgets.session, outputs=widgets.progress, queue=False, **private)
    widgets.refresh_history.click(
        guarded("Refresh", show_history), inputs=widgets.session, outputs=widgets.history, **private
    )
    # new images reach the gallery as they are saved: History shows them too
    widgets.gallery.change(guarded("History", show_history), inputs=widgets.session, outputs=widgets.history, **private)
    # unprocessed: gradio's own image decoding would fail on a file that is not an image, before the
    # handler could say so; a refused file is cleared from the box
    widgets.load_image.upload(
        guarded(LOAD, load_parameters, fallback=lambda: {widgets.load_image: None}),
        inputs=widgets.load_image,
        outputs=[
            *settings.values(),
            *widgets.inputs.values(),
            widgets.extras["performance_note"],
            widgets.input_panel.tabs,
            widgets.load_image,
        ],
        preprocess=False,
        **private,
    )
