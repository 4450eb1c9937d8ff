"""Event wiring: what Generate, Stop, Skip, History and Load parameters do to the widgets.

Handlers get the settings by name (gradio's `inputs_kwargs`), never as a positional list, and keep the
per-session owner id, job and results in `gr.State`. Generate submits to the job queue the HTTP API shares
and shows the job's queue position, then its progress. The Generate event is callable by programs as the
undocumented `/ui_generate` (it is how tests drive two sessions); programs should use `/generate` or the
HTTP API.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.jobqueue import DEFAULT_MAX_QUEUED, JobQueue, JobState, QueueFull
from studio.outputs import read_request
from studio.types import GenerationRequest, ImageRecord, InvalidRequest
from studio.ui.banner import banner_html
from studio.ui.fields import aspect_ratio_choices, loadable_values, request_from_values
from studio.ui.generation import Finished, Queued, follow_job, progress_text, queued_text, scaled_preview, summary_text
from studio.ui.input_fields import input_values_from_request
from studio.ui.layout import Widgets
from studio.ui.preset_fields import performance_note
from studio.ui.session import Session

if TYPE_CHECKING:
    from studio.services import Services

log = logging.getLogger(__name__)

# Handlers only wait on the shared job queue (its one worker runs the engine), so as many may wait as the
# queue holds; the queue, not gradio, decides the order and says "queue full".
QUEUE_CONCURRENCY = {"concurrency_id": "studio-jobs", "concurrency_limit": DEFAULT_MAX_QUEUED + 1}
HISTORY_LIMIT = 120


def gallery_items(records: list[ImageRecord]) -> list[tuple[str, str]]:
    return [(record.path, f"seed {record.seed}") for record in records]


def history_items(services: Services) -> list[tuple[str, str]]:
    return [(r.path, f"seed {r.seed} · {r.request.prompt[:60]}") for r in services.store.history(HISTORY_LIMIT)]


def job_runner(widgets: Widgets, jobs: JobQueue):
    """`run(session, request)`: a generator of widget updates that submits `request` to the shared queue
    and follows it to the end (seed, progress, live preview, then the gallery). Generate, Vary and
    Upscale all run their requests through it."""

    def run(session: Session, request: GenerationRequest):
        try:
            job = jobs.submit(request, session.owner_id())
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Invalid setting") from None
        except QueueFull as error:
            raise gr.Error(str(error), title="Queue full") from None
        session.begin_job(job)
        yield {
            widgets.settings["seed"]: str(request.seed),  # a drawn random seed is shown, so it can be re-made
            widgets.progress: f"Queued {request.image_count} image(s) · seed {request.seed}",
            widgets.preview: gr.update(value=None, visible=True),
            widgets.session: session,
        }
        failed = None
        try:
            for item in follow_job(jobs, job):
                if isinstance(item, Finished):
                    session.add_results(list(item.records))
                    failed = item.error if item.state is JobState.FAILED else None
                    yield {
                        widgets.gallery: session.show(gallery_items(session.results)),
                        widgets.progress: summary_text(item),
                        widgets.preview: gr.update(value=None, visible=False),
                        widgets.session: session,
                    }
                elif isinstance(item, Queued):
                    yield {widgets.progress: queued_text(item)}
                else:
                    yield {widgets.preview: scaled_preview(item.preview), widgets.progress: progress_text(item)}
        finally:
            session.end_job(job)
        if failed:
            raise gr.Error(failed, title="Generation failed")

    return run


def job_outputs(widgets: Widgets) -> list[Any]:
    return [widgets.settings["seed"], widgets.progress, widgets.preview, widgets.gallery, widgets.session]


def wire_job(
    trigger, handler, widgets: Widgets, services: Services, api_name: str | None = None, panel: bool = True
) -> None:
    """Wire a button whose handler runs a job (see `job_runner`): the buttons lock while it runs and come
    back afterwards, also after an error; the history and the header (a job may switch the model) refresh.
    The handler gets the session and every settings value (and, with `panel`, every Input Image value) by
    name."""
    buttons = [widgets.generate, widgets.stop, widgets.skip]
    private = {"api_visibility": "private"}

    def set_running(running: bool) -> list[Any]:
        return [gr.update(interactive=not running), gr.update(interactive=running), gr.update(interactive=running)]

    named = {"api_name": api_name, "api_visibility": "undocumented"} if api_name else private
    (
        trigger(lambda: set_running(True), outputs=buttons, queue=False, **private)
        .then(
            handler,
            inputs=[widgets.session],
            inputs_kwargs={**widgets.settings, **(widgets.inputs if panel else {})},
            outputs=job_outputs(widgets),
            show_progress="hidden",
            **named,
            **QUEUE_CONCURRENCY,
        )
        .then(
            lambda: [*set_running(False), gr.update(visible=False)],
            outputs=[*buttons, widgets.preview],
            queue=False,
            **private,
        )
        .then(lambda: after_job(services), outputs=[widgets.history, widgets.banner], **private)
    )


def after_job(services: Services) -> list[Any]:
    """The history and the header once a job is over: the job may have switched the model."""
    return [history_items(services), banner_html(services.manager.info)]


def generate_handler(services: Services, run_job):
    """Generate: the settings and the Input Image panel (by name) -> a request, run by `run_job`."""

    def generate_in_ui(session: Session, **values: Any):
        try:
            # the model loaded now (presets switch it); input images are stored by hash for the request
            request = request_from_values(values, services.manager.info, services.engine.inputs)
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Invalid setting") from None
        yield from run_job(session, request)

    return generate_in_ui


def choice(dropdown: gr.Dropdown, value: str, choices: list) -> Any:
    """A dropdown's new value, with its choices re-listed if the page was built without that value."""
    built_with = [item[1] if isinstance(item, tuple) else item for item in dropdown.choices]
    return value if value in built_with else gr.update(choices=choices, value=value)


def load_handler(services: Services, widgets: Widgets):
    """Load parameters: a studio PNG -> widget updates (settings, and the Input Image panel from the
    recorded input hashes), with a warning for whatever cannot be restored."""
    settings = widgets.settings

    def load_parameters(path: str | None) -> dict:
        if not path:
            return {}
        try:
            request = read_request(path)
            models = services.manager.available_models()
            # the model that will re-make it: the recorded one if it is available (its sizes), else the loaded one
            info = services.manager.info_for(request.model) if request.model in models else services.manager.info
            lora_names = services.engine.libraries.loras.names()
            values, warnings = loadable_values(request, info, lora_names, models)
        except InvalidRequest as error:
            gr.Warning(str(error), title="Could not load parameters")
            return {}
        panel, missing = input_values_from_request(request, services.engine.inputs)
        for warning in [*warnings, *missing]:
            gr.Warning(warning)
        gr.Info(f"Loaded the settings of seed {values['seed']}.")
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


def wire_events(services: Services, widgets: Widgets, jobs: JobQueue) -> None:
    settings = widgets.settings
    generate_in_ui = generate_handler(services, job_runner(widgets, jobs))
    load_parameters = load_handler(services, widgets)

    def stop(session: Session) -> str | Any:
        if session.job is None:
            return gr.skip()
        jobs.cancel(session.job.id, session.owner)
        return "Stopping after this step; finished images are kept…"

    def skip(session: Session) -> str | Any:
        if session.job is None:
            return gr.skip()
        jobs.skip(session.job.id, session.owner)
        return "Skipping this image…"

    private = {"api_visibility": "private"}
    wire_job(widgets.generate.click, generate_in_ui, widgets, services)
    # `/ui_generate` for programs (tests drive two sessions with it): the settings alone, positionally as
    # before; images reach programs' requests by hash through `/generate` and the HTTP API instead.
    api_trigger = gr.Button(visible=False, elem_id="studio-ui-generate-api")
    wire_job(api_trigger.click, generate_in_ui, widgets, services, api_name="ui_generate", panel=False)
    widgets.stop.click(stop, inputs=widgets.session, outputs=widgets.progress, queue=False, **private)
    widgets.skip.click(skip, inputs=widgets.session, outputs=widgets.progress, queue=False, **private)
    widgets.refresh_history.click(lambda: history_items(services), outputs=widgets.history, **private)
    widgets.load_image.upload(
        load_parameters,
        inputs=widgets.load_image,
        outputs=[
            *settings.values(),
            *widgets.inputs.values(),
            widgets.extras["performance_note"],
            widgets.input_panel.tabs,
        ],
        **private,
    )
