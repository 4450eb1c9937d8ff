"""Event wiring of the Input Image panel: slot previews, type defaults, the open tab, "Use as input",
Vary/Upscale and Describe.

The handlers are built by plain factories (`slot_preview`, `uov_handler`, `describe_handler`, ...) so tests
call them without a browser. Errors become a slot's message or a warning; the studio keeps serving.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from studio.types import IMAGE_PROMPT_DEFAULTS, EditSpec, InvalidRequest
from studio.ui.events import job_runner, wire_job
from studio.ui.fields import parse_size, request_from_values
from studio.ui.guard import guarded
from studio.ui.input_fields import INPUT_TABS, IP_SLOTS, denoise_value, editor_value, store_image
from studio.ui.input_panel import UOV_TOOLS
from studio.ui.messages import labelled, readable_text
from studio.ui.session import Session
from studio.ui.uploads import wire_upload_checks

if TYPE_CHECKING:
    from studio.jobqueue import JobQueue
    from studio.services import Services
    from studio.ui.layout import Widgets

log = logging.getLogger(__name__)
PRIVATE = {"api_visibility": "private"}


def slot_preview(engine, image: Image.Image | None, slot_type: str, skip: bool, aspect_ratio: str, index: int):
    """(the map or crop slot `index` (0-based) feeds its model at the chosen size, or None; a message).
    Made by the engine's image-prompt stage (its `preview`, with its Depth/Pose annotators), so the preview
    is what steers the image."""
    from studio.control.maps import slot_input  # the preprocessors bring numpy/torch helpers

    if image is None:
        return None, ""
    field = f"image_prompts[{index}]"
    stage = next((stage for stage in engine.stages if hasattr(stage, "preview")), None)
    make = slot_input if stage is None else stage.preview
    try:
        width, height = parse_size(aspect_ratio)
        return make(image, slot_type, width, height, bool(skip), field=field), ""
    except InvalidRequest as error:
        return None, f"⚠ {labelled(error.field, error.message)}"
    except (OSError, RuntimeError, ValueError) as error:  # e.g. a face model that cannot be had
        log.warning("preview of %s failed: %s", field, error)
        return None, f"⚠ No preview: {readable_text(str(error))}"


def slot_type_defaults(slot_type: str) -> tuple[float, float]:
    """(weight, stop_at) a slot takes when its type is chosen: the type's declared defaults."""
    return IMAGE_PROMPT_DEFAULTS[slot_type]


def selected_image(session: Session) -> Image.Image | None:
    """The gallery image this session selected (a path the server itself showed), loaded."""
    if not session.selected:
        return None
    with Image.open(session.selected) as image:
        return image.convert("RGB")


def uov_handler(services: Services, run_job, label: str):
    """The handler of a Vary/Upscale button: the tab's picture (else the selected result) through the tool.
    Upscale makes one image (the image count is for generating); Vary makes the image count's variations."""
    tool = UOV_TOOLS[label]

    def run(session: Session, **values: Any):
        picture = values.get("uov_image")
        picture = selected_image(session) if picture is None else picture
        if picture is None:
            raise InvalidRequest("uov_image", f"{label} needs a picture: upload one or select a result")
        values = {**values, "input_tab": "vary_upscale"}  # the inpaint editor is not this tool's
        request = request_from_values(values, services.manager.info, services.engine.inputs)
        denoise = denoise_value("edit.denoise", values.get("uov_denoise", 0.0))  # 15c: 0 = the tool's own
        edit = EditSpec(image=store_image(services.engine.inputs, picture, "edit.image"), denoise=denoise, **tool).check()
        request = replace(request, edit=edit, image_count=1 if tool["kind"] == "upscale" else request.image_count)
        yield from run_job(session, request, label)

    return run


def describe_handler(services: Services):
    """Describe: picture + style -> the prompt box's text. Guarded where it is wired: on any failure a
    warning, and the prompt stays."""

    def describe(image: Image.Image | None, style: str) -> str:
        if image is None:
            raise InvalidRequest("Picture to describe", "upload a picture first, then Describe")
        return services.engine.edit_models.describe(image, style)

    return describe


def use_as_input(session: Session) -> list[Any]:
    """The selected result into the inpaint editor and the Vary/Upscale picture, and the panel opened."""
    image = selected_image(session)
    if image is None:
        raise InvalidRequest("Use as input", "select an image in the results first")
    return [editor_value(image), image, True]


def wire_input_events(services: Services, widgets: Widgets, jobs: JobQueue) -> None:
    inputs, panel = widgets.inputs, widgets.input_panel
    inputs["input_image"].change(
        lambda on: gr.update(visible=bool(on)), inputs=inputs["input_image"], outputs=panel.group, **PRIVATE
    )
    for tab in INPUT_TABS:
        panel.tab_items[tab].select(lambda tab=tab: tab, outputs=inputs["input_tab"], queue=False, **PRIVATE)

    aspect_ratio = widgets.settings["aspect_ratio"]
    for index, (image, kind, weight, stop_at, skip) in enumerate(IP_SLOTS):
        # .input, not .change: Load parameters sets a type together with its recorded weight and stop-at
        inputs[kind].input(
            guarded(f"Image {index + 1} type", slot_type_defaults),
            inputs=inputs[kind],
            outputs=[inputs[weight], inputs[stop_at]],
            **PRIVATE,
        )

        def show(picture, slot_type, skip_value, ratio, index=index):
            preview, message = slot_preview(services.engine, picture, slot_type, skip_value, ratio, index)
            return gr.update(value=preview, visible=preview is not None), message

        for trigger in (inputs[image].change, inputs[kind].change, inputs[skip].change):
            trigger(
                guarded(f"Image {index + 1}", show),
                inputs=[inputs[image], inputs[kind], inputs[skip], aspect_ratio],
                outputs=[panel.previews[index], panel.messages[index]],
                show_progress="minimal",
                **PRIVATE,
            )

    def select_result(session: Session, selected: gr.SelectData):
        session.select(selected.index if isinstance(selected.index, int) else -1)
        return session, gr.update(interactive=session.selected is not None)

    widgets.gallery.select(
        guarded("Select", select_result),
        inputs=widgets.session,
        outputs=[widgets.session, widgets.use_selected],
        **PRIVATE,
    )
    widgets.use_selected.click(
        guarded("Use as input", use_as_input),
        inputs=widgets.session,
        outputs=[inputs["edit_image"], inputs["uov_image"], inputs["input_image"]],
        **PRIVATE,
    )

    image_boxes = [inputs[image] for image, *_ in IP_SLOTS] + [inputs["edit_mask"], inputs["uov_image"]]
    wire_upload_checks([*image_boxes, inputs["edit_image"], panel.describe_image])

    run_job = job_runner(widgets, jobs)
    for label, button in panel.uov_buttons.items():
        wire_job(button.click, uov_handler(services, run_job, label), widgets, services, label)

    from studio.ui.enhance_panel import wire_enhance_events

    wire_enhance_events(services, widgets)  # 16: the Enhance panel and the Inpaint tab's Mask from text
    panel.describe.click(
        guarded("Describe", describe_handler(services)),
        inputs=[panel.describe_image, panel.describe_style],
        outputs=widgets.settings["prompt"],
        **PRIVATE,
    )
