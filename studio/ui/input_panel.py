"""The "Input Image" panel (Fooocus's): a checkbox under the prompt opens tabs for Image Prompt, Inpaint/Outpaint,
Vary/Upscale and Describe.

`build_input_panel` only creates components and returns them: the request's widgets under their
`INPUT_FIELD_NAMES` name, the rest (previews, messages, buttons) in `InputPanel`. Bounds are the declared
limits of ImagePrompt and EditSpec; choices are the declared tables (types, modes, sides, strengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.edit.describe import DESCRIBE_STYLES
from studio.types import IMAGE_PROMPT_TYPES, INPAINT_MODES, OUTPAINT_SIDES, image_prompt_limit
from studio.ui.enhance_panel import EnhancePanel, TextMaskRow, build_enhance_panel, build_text_mask_row  # 16
from studio.ui.input_fields import INPUT_FIELD_NAMES, INPUT_TABS, IP_SLOTS, default_input_values, edit_limit
from studio.ui.uploads import checked_image_box

# Button label -> EditSpec fields of the Vary/Upscale tab's tools.
UOV_TOOLS = {
    "Vary (Subtle)": {"kind": "vary", "vary_strength": "subtle"},
    "Vary (Strong)": {"kind": "vary", "vary_strength": "strong"},
    "Upscale (1.5×)": {"kind": "upscale", "upscale": "1.5"},
    "Upscale (2×)": {"kind": "upscale", "upscale": "2"},
    "Upscale (Fast 2×)": {"kind": "upscale", "upscale": "fast2"},
}
INPAINT_MODE_LABELS = {
    "default": "Inpaint or outpaint (default)",
    "improve_detail": "Improve detail (face, hand, eyes…)",
    "modify_content": "Modify content (add objects, change background…)",
}
SLOT_PREVIEW_SIDE = 160
SLOTS_PER_ROW = 2  # four slots as a 2x2 grid: each keeps room for its sliders


@dataclass(frozen=True)
class InputPanel:
    group: gr.Group
    tabs: gr.Tabs
    tab_items: dict[str, gr.Tab]  # keyed by INPUT_TABS
    previews: tuple[gr.Image, ...]  # one per image-prompt slot: the map (or crop) the slot feeds its model
    messages: tuple[gr.Markdown, ...]  # one per slot: why there is no preview
    uov_buttons: dict[str, gr.Button]  # keyed by UOV_TOOLS labels
    describe_image: gr.Image
    describe_style: gr.Radio
    describe: gr.Button
    text_mask: TextMaskRow | None = None  # 16: the Inpaint tab's "Mask from text" row
    enhance: EnhancePanel | None = None  # 16: the Enhance panel (its request widgets are in `inputs`)


def _slider(limit, label: str, value: Any, step: float, **kwargs) -> gr.Slider:
    return gr.Slider(minimum=limit.low, maximum=limit.high, step=step, value=value, label=label, **kwargs)


def _image_prompt_slot(index: int, defaults: dict, inputs: dict) -> tuple[gr.Image, gr.Markdown]:
    """Slot `index` (1-based): its request widgets into `inputs`; returns its (preview, message)."""
    image, kind, weight, stop_at, skip = IP_SLOTS[index - 1]
    with gr.Column(min_width=200, elem_id=f"studio-ip-{index}"):
        inputs[image] = checked_image_box(gr.Image(
            label=f"Image {index}", type="pil", image_mode="RGB", sources=["upload", "clipboard"],
            height=SLOT_PREVIEW_SIDE, elem_id=f"studio-ip-{index}-image",
        ))  # fmt: skip
        inputs[kind] = gr.Dropdown(
            choices=list(IMAGE_PROMPT_TYPES), value=defaults[kind], label="Type", elem_id=f"studio-ip-{index}-type"
        )
        inputs[weight] = _slider(image_prompt_limit("weight"), "Weight", defaults[weight], 0.01)
        inputs[stop_at] = _slider(image_prompt_limit("stop_at"), "Stop at", defaults[stop_at], 0.01)
        inputs[skip] = gr.Checkbox(value=defaults[skip], label="Use as the control map as-is")
        preview = gr.Image(
            label="What steers the image", interactive=False, height=SLOT_PREVIEW_SIDE,
            visible=False, buttons=[], elem_id=f"studio-ip-{index}-preview",
        )  # fmt: skip
        message = gr.Markdown("", elem_id=f"studio-ip-{index}-message")
    return preview, message


def _image_prompt_slots(defaults: dict, inputs: dict) -> tuple[list, list]:
    previews, messages = [], []
    for first in range(1, len(IP_SLOTS) + 1, SLOTS_PER_ROW):
        with gr.Row(equal_height=False):
            for index in range(first, min(first + SLOTS_PER_ROW, len(IP_SLOTS) + 1)):
                preview, message = _image_prompt_slot(index, defaults, inputs)
                previews.append(preview)
                messages.append(message)
    return previews, messages


def _inpaint_tab(defaults: dict, inputs: dict) -> TextMaskRow:
    inputs["edit_image"] = gr.ImageEditor(
        label="Picture · paint over what to repaint",
        type="pil",
        image_mode="RGB",
        sources=["upload", "clipboard"],
        brush=gr.Brush(colors=["#FFFFFF"], color_mode="fixed", default_size=24),
        eraser=gr.Eraser(default_size=24),
        layers=gr.LayerOptions(allow_additional_layers=False, layers=["Mask"]),
        format="png",  # lossless: pixels outside the mask must come back unchanged
        height=420,
        elem_id="studio-edit-image",
    )
    checked_image_box(inputs["edit_image"])
    text_mask = build_text_mask_row()  # 16: paints the mask of what words name into the editor
    with gr.Row(equal_height=True):
        inputs["inpaint_mode"] = gr.Dropdown(
            choices=[(INPAINT_MODE_LABELS.get(mode, mode), mode) for mode in INPAINT_MODES],
            value=defaults["inpaint_mode"], label="Method", scale=2, elem_id="studio-inpaint-mode",
        )  # fmt: skip
        inputs["edit_mask"] = checked_image_box(gr.Image(
            label="Mask (optional, white = repaint)", type="pil", image_mode="L", sources=["upload"],
            height=140, scale=1, elem_id="studio-edit-mask",
        ))  # fmt: skip
    with gr.Row():
        inputs["mask_grow"] = _slider(edit_limit("mask_grow"), "Grow (+) / erode (−) mask (px)", defaults["mask_grow"], 1)
        inputs["mask_feather"] = _slider(edit_limit("mask_feather"), "Feather edge (px)", defaults["mask_feather"], 1)
    with gr.Row(equal_height=True):
        inputs["outpaint_sides"] = gr.CheckboxGroup(
            choices=[(side.title(), side) for side in OUTPAINT_SIDES], value=defaults["outpaint_sides"],
            label="Outpaint (extend the picture)", info="With a side chosen, Generate outpaints and the mask is unused",
            elem_id="studio-outpaint-sides",
        )  # fmt: skip
        inputs["outpaint_size"] = _slider(
            edit_limit("outpaint_size"), "Added per side (fraction of the side)", defaults["outpaint_size"], 0.05
        )
    _inpaint_controls(defaults, inputs)
    return text_mask


def _inpaint_controls(defaults: dict, inputs: dict) -> None:
    """15c: Fooocus's inpaint controls; each at 0 / off / empty keeps the method's own behaviour."""
    with gr.Accordion("Inpaint controls", open=False, elem_id="studio-inpaint-controls"):
        inputs["inpaint_prompt"] = gr.Textbox(
            value=defaults["inpaint_prompt"], label="Inpaint prompt", lines=1,
            info="Added before the prompt, for what to paint in the masked area", max_length=int(edit_limit("inpaint_prompt").high),
            elem_id="studio-inpaint-prompt",
        )  # fmt: skip
        with gr.Row():
            inputs["mask_invert"] = gr.Checkbox(
                value=defaults["mask_invert"], label="Invert mask (repaint what is not painted)", elem_id="studio-mask-invert"
            )
            inputs["denoise"] = _slider(
                edit_limit("denoise"), "Denoise strength (0 = the method's)", defaults["denoise"], 0.01,
                elem_id="studio-inpaint-denoise",
            )  # fmt: skip
            inputs["inpaint_context"] = _slider(
                edit_limit("inpaint_context"), "Respective field (context; 0 = the method's, 0.618 default)",
                defaults["inpaint_context"], 0.001, elem_id="studio-respective-field",
            )  # fmt: skip


def build_input_panel(inputs: dict[str, Any]) -> InputPanel:
    """Create the checkbox and the panel inside the open layout; fill `inputs` by INPUT_FIELD_NAMES name."""
    defaults = default_input_values()
    inputs["input_image"] = gr.Checkbox(value=False, label="Input Image", elem_id="studio-input-image")
    inputs["input_tab"] = gr.State(defaults["input_tab"])
    tab_items = {}
    with gr.Group(visible=False, elem_id="studio-input-panel") as group, gr.Tabs(selected=INPUT_TABS[0]) as tabs:
        with gr.Tab("Image Prompt", id="image_prompt") as tab_items["image_prompt"]:
            previews, messages = _image_prompt_slots(defaults, inputs)
        with gr.Tab("Inpaint / Outpaint", id="inpaint") as tab_items["inpaint"]:
            text_mask = _inpaint_tab(defaults, inputs)
        with gr.Tab("Vary / Upscale", id="vary_upscale") as tab_items["vary_upscale"]:
            inputs["uov_image"] = checked_image_box(gr.Image(
                label="Picture (or select one in the results)", type="pil", image_mode="RGB",
                sources=["upload", "clipboard"], height=300, elem_id="studio-uov-image",
            ))  # fmt: skip
            inputs["uov_denoise"] = _slider(  # 15c
                edit_limit("denoise"), "Denoise strength (0 = the button's own: subtle 0.5, strong 0.85, upscale 0.382)",
                defaults["uov_denoise"], 0.01, elem_id="studio-uov-denoise",
            )  # fmt: skip
            with gr.Row():
                uov_buttons = {
                    label: gr.Button(label, size="sm", elem_id=f"studio-uov-{index}")
                    for index, label in enumerate(UOV_TOOLS)
                }
        with gr.Tab("Describe", id="describe") as tab_items["describe"], gr.Row(equal_height=True):
            describe_image = checked_image_box(gr.Image(
                label="Picture to describe", type="pil", image_mode="RGB", sources=["upload", "clipboard"],
                height=260, scale=2, elem_id="studio-describe-image",
            ))  # fmt: skip
            with gr.Column(scale=1, min_width=160):
                describe_style = gr.Radio(
                    choices=[(style.title(), style) for style in DESCRIBE_STYLES], value="photo",
                    label="Content type", elem_id="studio-describe-style",
                )  # fmt: skip
                describe = gr.Button("Describe", elem_id="studio-describe")
    enhance = build_enhance_panel(inputs)  # 16: its checkbox sits below the Input Image panel
    missing = set(INPUT_FIELD_NAMES) ^ set(inputs)
    if missing:
        raise RuntimeError(f"input widgets and INPUT_FIELD_NAMES disagree: {sorted(missing)}")
    return InputPanel(
        group, tabs, tab_items, tuple(previews), tuple(messages), uov_buttons,
        describe_image, describe_style, describe, text_mask, enhance,
    )  # fmt: skip
