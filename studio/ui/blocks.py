"""`build_ui(services)`: the whole Gradio app, assembled from the layout, its events and the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from studio.jobqueue import JobQueue
from studio.ui.api import add_generate_endpoint
from studio.ui.compare_tab import wire_compare
from studio.ui.events import history_handler, wire_events
from studio.ui.extra_events import wire_extra_events
from studio.ui.i18n import StudioI18n, localize
from studio.ui.input_events import wire_input_events
from studio.ui.layout import build_layout
from studio.ui.page_load import wire_page_load
from studio.ui.session import Owners, Session
from studio.ui.token_counter import wire_token_counter

if TYPE_CHECKING:
    from studio.services import Services


def build_ui(services: Services, jobs: JobQueue | None = None, owners: Owners | None = None) -> gr.Blocks:
    """The studio's Blocks; the caller launches it (`demo.queue().launch(...)`) or mounts it
    (`studio.server.build_app`). `jobs` is the queue shared with the HTTP API; without one, the UI gets
    its own (started here). `owners` says whom an event acts for (the logged-in user when logins are on;
    by default each browser session is its own owner and sees every image in History)."""
    owners = owners or Owners()
    if jobs is None:
        jobs = JobQueue(services.engine, services.store).start()
    with gr.Blocks(title="SDXL Studio", fill_width=True) as demo:  # the banner names the model, kept current
        widgets = build_layout(services)
        wire_events(services, widgets, jobs, owners)
        wire_extra_events(services, widgets)
        wire_input_events(services, widgets, jobs)
        wire_compare(services, widgets)
        wire_token_counter(widgets.settings, widgets.extras)  # 18
        add_generate_endpoint(services, jobs, owners)

        show_history = history_handler(services, owners)

        def open_page(session: Session, request: gr.Request):
            """The session learns whom it acts for (the logged-in user) and shows that owner's History."""
            return session, show_history(session, request)

        demo.load(
            open_page, inputs=widgets.session, outputs=[widgets.session, widgets.history], api_visibility="private"
        )
        wire_page_load(demo, services, widgets)
    # 18: the page in the browser's language (or --language); `launch` needs i18n=demo.i18n_instance
    return localize(demo, StudioI18n(services.settings.language or None))
