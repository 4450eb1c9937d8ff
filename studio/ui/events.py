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
from studio.types import ImageRecord, InvalidRequest
from studio.ui.fields import load_values, request_from_values
from studio.ui.generation import Finished, Queued, follow_job, progress_text, queued_text, scaled_preview, summary_text
from studio.ui.layout import Widgets
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


def wire_events(services: Services, widgets: Widgets, jobs: JobQueue) -> None:
    info = services.manager.info
    settings = widgets.settings
    buttons = [widgets.generate, widgets.stop, widgets.skip]

    def set_running(running: bool) -> list[Any]:
        return [gr.update(interactive=not running), gr.update(interactive=running), gr.update(interactive=running)]

    def generate_in_ui(session: Session, **values: Any):
        try:
            request = request_from_values(values, info)
            job = jobs.submit(request, session.owner_id())
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Invalid setting") from None
        except QueueFull as error:
            raise gr.Error(str(error), title="Queue full") from None
        session.begin_job(job)
        yield {
            settings["seed"]: str(request.seed),  # a drawn random seed is shown, so the picture can be re-made
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
                        widgets.gallery: gallery_items(session.results),
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

    def load_parameters(path: str | None) -> dict:
        if not path:
            return {}
        try:
            values, warnings = load_values(path, info)
        except InvalidRequest as error:
            gr.Warning(str(error), title="Could not load parameters")
            return {}
        for warning in warnings:
            gr.Warning(warning)
        gr.Info(f"Loaded the settings of seed {values['seed']}.")
        return {settings[name]: value for name, value in values.items()}

    private = {"api_visibility": "private"}
    (
        widgets.generate.click(lambda: set_running(True), outputs=buttons, queue=False, **private)
        .then(
            generate_in_ui,
            inputs=[widgets.session],
            inputs_kwargs=settings,
            outputs=[settings["seed"], widgets.progress, widgets.preview, widgets.gallery, widgets.session],
            show_progress="hidden",
            api_name="ui_generate",
            api_visibility="undocumented",
            **QUEUE_CONCURRENCY,
        )
        # also after an error: buttons back, preview away
        .then(
            lambda: [*set_running(False), gr.update(visible=False)],
            outputs=[*buttons, widgets.preview],
            queue=False,
            **private,
        )
        .then(lambda: history_items(services), outputs=widgets.history, **private)
    )
    widgets.stop.click(stop, inputs=widgets.session, outputs=widgets.progress, queue=False, **private)
    widgets.skip.click(skip, inputs=widgets.session, outputs=widgets.progress, queue=False, **private)
    widgets.refresh_history.click(lambda: history_items(services), outputs=widgets.history, **private)
    widgets.load_image.upload(load_parameters, inputs=widgets.load_image, outputs=list(settings.values()), **private)
