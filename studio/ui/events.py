"""Event wiring: what Generate, Stop, Skip, History and Load parameters do to the widgets.

Handlers get the settings by name (gradio's `inputs_kwargs`), never as a positional list, and keep the
per-session job control and results in `gr.State`. These UI events are private: programs use the named
`/generate` endpoint of `studio.ui.api`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.types import ImageRecord, InvalidRequest
from studio.ui.fields import load_values, request_from_values
from studio.ui.generation import Finished, progress_text, run_streaming, scaled_preview, summary_text
from studio.ui.layout import Widgets
from studio.ui.session import Session

if TYPE_CHECKING:
    from studio.services import Services

log = logging.getLogger(__name__)

# UI generations and API calls share one queue: the engine runs one job at a time.
ENGINE_CONCURRENCY = {"concurrency_id": "engine", "concurrency_limit": 1}
HISTORY_LIMIT = 120


def gallery_items(records: list[ImageRecord]) -> list[tuple[str, str]]:
    return [(record.path, f"seed {record.seed}") for record in records]


def history_items(services: Services) -> list[tuple[str, str]]:
    return [(r.path, f"seed {r.seed} · {r.request.prompt[:60]}") for r in services.store.history(HISTORY_LIMIT)]


def wire_events(services: Services, widgets: Widgets) -> None:
    info = services.manager.info
    settings = widgets.settings
    buttons = [widgets.generate, widgets.stop, widgets.skip]

    def set_running(running: bool) -> list[Any]:
        return [gr.update(interactive=not running), gr.update(interactive=running), gr.update(interactive=running)]

    def generate_in_ui(session: Session, **values: Any):
        try:
            request = services.engine.validate(request_from_values(values, info))
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Invalid setting") from None
        control = session.begin_job()
        yield {
            settings["seed"]: str(request.seed),  # a drawn random seed is shown, so the picture can be re-made
            widgets.progress: f"Starting {request.image_count} image(s) · seed {request.seed}",
            widgets.preview: gr.update(value=None, visible=True),
        }
        try:
            for item in run_streaming(services, request, control):
                if isinstance(item, Finished):
                    session.add_results(list(item.records))
                    yield {
                        widgets.gallery: gallery_items(session.results),
                        widgets.progress: summary_text(item),
                        widgets.preview: gr.update(value=None, visible=False),
                        widgets.session: session,
                    }
                else:
                    yield {widgets.preview: scaled_preview(item.preview), widgets.progress: progress_text(item)}
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Invalid setting") from None
        except Exception as error:
            log.exception("generation failed")
            raise gr.Error(f"Generation failed: {error}") from None
        finally:
            session.end_job(control)

    def stop(session: Session) -> str | Any:
        if session.control is None:
            return gr.skip()
        session.control.stop()
        return "Stopping after this step; finished images are kept…"

    def skip(session: Session) -> str | Any:
        if session.control is None:
            return gr.skip()
        session.control.skip()
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
            **ENGINE_CONCURRENCY,
            **private,
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
