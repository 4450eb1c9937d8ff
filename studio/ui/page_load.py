"""What every page load brings up to date: the page is built once, at start-up, so its banner, Base model and
aspect ratios would otherwise name the model loaded then, not the one loaded now (a preset or a job may have
switched since). The checkpoint and LoRA lists are re-read too, for files added since."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.ui.banner import banner_html
from studio.ui.extra_events import aspect_ratio_choice, file_dropdowns, file_refresher
from studio.ui.guard import guarded

if TYPE_CHECKING:
    import gradio as gr

    from studio.services import Services
    from studio.ui.layout import Widgets


def page_load_handler(services: Services):
    refresh_files = file_refresher(services)

    def on_page_load(aspect_ratio: str | None, model: str | None, *loras: str) -> list[Any]:
        info = services.manager.info
        model_update, *lora_updates = refresh_files(info.name, *loras)  # a new page starts on the loaded model
        return [banner_html(info), aspect_ratio_choice(info, aspect_ratio), model_update, *lora_updates]

    return on_page_load


def wire_page_load(demo: gr.Blocks, services: Services, widgets: Widgets) -> None:
    dropdowns = file_dropdowns(widgets)  # the base model, then the LoRA slots
    widgets_in_order = [widgets.banner, widgets.settings["aspect_ratio"], *dropdowns]
    demo.load(
        guarded("Opening the page", page_load_handler(services)),
        inputs=widgets_in_order[1:],
        outputs=widgets_in_order,
        api_visibility="private",
    )
