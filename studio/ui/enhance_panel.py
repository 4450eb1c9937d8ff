"""The Enhance panel (a checkbox under the prompt, beside Input Image, opening one tab per region) and the
Inpaint tab's "Mask from text" row, with their events.

Enhance's widgets are request widgets (named by `enhance_fields.ENHANCE_FIELD_NAMES`, in the Input Image
panel's `inputs`); the mask row is a tool: it finds what its words name in the editor's picture and puts the
mask in the editor as a painted layer, where the user sees it, brushes or erases it, and Generate uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image

from studio.edit_spec import INPAINT_MODES
from studio.enhance_spec import ENHANCE_ORDERS, EnhanceRegion, region_help, region_limit
from studio.ui.enhance_fields import REGION_FIELDS, REGION_PARTS, default_enhance_values
from studio.ui.guard import guarded

if TYPE_CHECKING:
    from studio.services import Services
    from studio.ui.layout import Widgets

PRIVATE = {"api_visibility": "private"}
ORDER_LABELS = {"after_upscale": "After upscale (enhance the upscaled picture)", "before_upscale": "Before upscale (enhance the input)"}
MODE_LABELS = {"default": "Repaint with wide context", "improve_detail": "Improve detail (face, hand, eyes…)", "modify_content": "Modify content"}


@dataclass(frozen=True)
class TextMaskRow:
    text: gr.Textbox
    threshold: gr.Slider
    grow: gr.Slider
    make: gr.Button


@dataclass(frozen=True)
class EnhancePanel:
    group: gr.Group


def _slider(name: str, label: str, value: Any, step: float, **kwargs) -> gr.Slider:
    limit = region_limit(name)
    return gr.Slider(minimum=limit.low, maximum=limit.high, step=step, value=value, label=label, info=region_help(name), **kwargs)


def build_text_mask_row() -> TextMaskRow:
    """The Inpaint tab's row: words, detector threshold and grow (Enhance's declared limits), and a button."""
    with gr.Row(equal_height=True, elem_id="studio-mask-text-row"):
        text = gr.Textbox(
            label="Mask from text", placeholder="face, hands, eyes, person, background…", scale=3,
            max_length=int(region_limit("detect").high), elem_id="studio-mask-text",
        )  # fmt: skip
        threshold = _slider("threshold", "Threshold", EnhanceRegion.threshold, 0.01, scale=2, elem_id="studio-mask-text-threshold")
        grow = _slider("grow", "Grow (px)", EnhanceRegion.grow, 1, scale=2, elem_id="studio-mask-text-grow")
        make = gr.Button("Make mask", size="sm", scale=1, min_width=90, elem_id="studio-mask-text-make")
    return TextMaskRow(text, threshold, grow, make)


def build_enhance_panel(inputs: dict[str, Any]) -> EnhancePanel:
    """The "Enhance" checkbox and its hidden panel; the request widgets go into `inputs` by name."""
    defaults = default_enhance_values()
    inputs["enhance"] = gr.Checkbox(value=False, label="Enhance (re-paint faces, hands… found by words)", elem_id="studio-enhance")
    with gr.Group(visible=False, elem_id="studio-enhance-panel") as group:
        inputs["enhance_order"] = gr.Radio(
            choices=[(ORDER_LABELS[order], order) for order in ENHANCE_ORDERS], value=defaults["enhance_order"],
            label="With Upscale", elem_id="studio-enhance-order",
        )  # fmt: skip
        with gr.Tabs():
            for index, names in enumerate(REGION_FIELDS, start=1):
                widget = dict(zip(REGION_PARTS, names))
                with gr.Tab(f"Region {index}", id=f"enhance-{index}"):
                    with gr.Row(equal_height=True):
                        inputs[widget["detect"]] = gr.Textbox(
                            value=defaults[widget["detect"]], label="Find (words)", placeholder="face",
                            max_length=int(region_limit("detect").high), scale=2, elem_id=f"studio-enhance-{index}-detect",
                        )  # fmt: skip
                        inputs[widget["inpaint_mode"]] = gr.Dropdown(
                            choices=[(MODE_LABELS.get(mode, mode), mode) for mode in INPAINT_MODES],
                            value=defaults[widget["inpaint_mode"]], label="Method", scale=2,
                            elem_id=f"studio-enhance-{index}-mode",
                        )  # fmt: skip
                    inputs[widget["prompt"]] = gr.Textbox(
                        value="", label="Prompt (empty = the main prompt)", lines=1,
                        max_length=int(region_limit("prompt").high), elem_id=f"studio-enhance-{index}-prompt",
                    )  # fmt: skip
                    inputs[widget["negative_prompt"]] = gr.Textbox(
                        value="", label="Negative prompt (empty = the main one)", lines=1,
                        max_length=int(region_limit("negative_prompt").high), elem_id=f"studio-enhance-{index}-negative",
                    )  # fmt: skip
                    with gr.Row():
                        inputs[widget["strength"]] = _slider("strength", "Strength", defaults[widget["strength"]], 0.01)
                        inputs[widget["threshold"]] = _slider("threshold", "Threshold", defaults[widget["threshold"]], 0.01)
                        inputs[widget["grow"]] = _slider("grow", "Grow mask (px)", defaults[widget["grow"]], 1)
    return EnhancePanel(group)


def editor_with_mask(picture: Image.Image, mask: np.ndarray) -> dict[str, Any]:
    """An ImageEditor value: `picture` with `mask` as its painted layer (white, opaque where set)."""
    alpha = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    layer = Image.new("RGBA", picture.size, (255, 255, 255, 0))
    layer.putalpha(alpha)
    composite = picture.convert("RGBA")
    composite.alpha_composite(layer)
    return {"background": picture, "layers": [layer], "composite": composite.convert("RGB")}


def mask_from_text_handler(services: Services):
    """Make mask: (editor value, words, threshold, grow) -> the editor value with the mask painted in."""
    from studio.limits import InvalidRequest
    from studio.segment.text_masks import mask_from_text
    from studio.ui.input_fields import checked_image, editor_parts

    def make(editor: Any, text: str, threshold: float, grow: float) -> dict[str, Any]:
        picture, _painted = editor_parts(editor)
        if picture is None:
            raise InvalidRequest("edit.image", "upload a picture to the editor first, then Make mask")
        picture = checked_image(picture, "edit.image").convert("RGB")
        names = ("mask_text", "mask_text_threshold", "mask_text_grow")
        grow = int(grow) if isinstance(grow, float) and grow.is_integer() else grow
        found = mask_from_text(services.engine.text_masks, picture, text or "", float(threshold), grow, names)
        return editor_with_mask(picture, found)

    return make


def wire_enhance_events(services: Services, widgets: Widgets) -> None:
    inputs, panel = widgets.inputs, widgets.input_panel
    inputs["enhance"].change(
        lambda on: gr.update(visible=bool(on)), inputs=inputs["enhance"], outputs=panel.enhance.group, **PRIVATE
    )
    row = panel.text_mask
    row.make.click(
        guarded("Make mask", mask_from_text_handler(services)),
        inputs=[inputs["edit_image"], row.text, row.threshold, row.grow],
        outputs=inputs["edit_image"],
        **PRIVATE,
    )
