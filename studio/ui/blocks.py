"""`build_ui(services)`: the whole Gradio app, assembled from the layout, its events and the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from studio.ui.api import add_generate_endpoint
from studio.ui.events import history_items, wire_events
from studio.ui.layout import build_layout

if TYPE_CHECKING:
    from studio.services import Services


def build_ui(services: Services) -> gr.Blocks:
    """The studio's Blocks; the caller launches it (`demo.queue().launch(...)`)."""
    with gr.Blocks(title=f"SDXL Studio · {services.manager.info.name}", fill_width=True) as demo:
        widgets = build_layout(services.manager.info)
        wire_events(services, widgets)
        add_generate_endpoint(services)
        demo.load(lambda: history_items(services), outputs=widgets.history, api_visibility="private")
    return demo
