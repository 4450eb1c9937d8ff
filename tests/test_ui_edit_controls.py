"""Issue 15 part C in the UI: the Advanced tab's seed-increment and wildcard-order switches, the inpaint
controls and the Vary/Upscale denoise reach the request by name, run through the handlers and come back
from a saved PNG through Load parameters."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import pytest
from PIL import Image

from studio.outputs import read_request
from studio.types import EditSpec, InvalidRequest
from studio.ui.events import generate_handler, job_runner, load_handler
from studio.ui.fields import request_from_values
from studio.ui.input_events import uov_handler
from studio.ui.messages import FIELD_LABELS
from studio.ui.session import Owners, Session
from tests.test_ui_inputs import FAST, finished_paths, painted_layer, picture


def inpaint_values(**controls):
    image = picture()
    editor = {"background": image, "layers": [painted_layer()], "composite": image}
    return {**FAST, "prompt": "a book", "input_image": True, "input_tab": "inpaint", "edit_image": editor, **controls}


def test_widgets_exist_with_declared_limits(widgets):
    assert isinstance(widgets.settings["disable_seed_increment"], gr.Checkbox)
    assert isinstance(widgets.settings["wildcards_in_order"], gr.Checkbox)
    assert (widgets.inputs["mask_grow"].minimum, widgets.inputs["mask_grow"].maximum) == (-256, 256)
    assert (widgets.inputs["denoise"].minimum, widgets.inputs["denoise"].maximum) == (0, 1)
    assert (widgets.inputs["inpaint_context"].minimum, widgets.inputs["inpaint_context"].maximum) == (0, 2)
    assert widgets.inputs["uov_denoise"].maximum == 1
    for name in ("edit.mask_invert", "edit.denoise", "edit.inpaint_context", "edit.inpaint_prompt", "wildcards_in_order"):
        assert name in FIELD_LABELS


def test_values_become_the_request_and_bad_ones_name_the_field(tiny_services):
    info, inputs = tiny_services.manager.info, tiny_services.engine.inputs
    controls = {"mask_invert": True, "mask_grow": -3, "denoise": 0.6, "inpaint_context": 0.4, "inpaint_prompt": "gold"}
    request = request_from_values(
        {**inpaint_values(**controls), "disable_seed_increment": True, "wildcards_in_order": True}, info, inputs
    )
    assert request.disable_seed_increment and request.wildcards_in_order
    edit = request.edit
    assert (edit.mask_invert, edit.mask_grow, edit.denoise, edit.inpaint_context, edit.inpaint_prompt) == (
        True, -3, 0.6, 0.4, "gold",
    )  # fmt: skip
    neutral = request_from_values(inpaint_values(), info, inputs)
    assert neutral.edit == EditSpec(kind="inpaint", image=edit.image, mask=edit.mask, mask_grow=neutral.edit.mask_grow)
    assert not neutral.disable_seed_increment and not neutral.wildcards_in_order
    for values, field in (
        ({**inpaint_values(), "denoise": "x"}, "edit.denoise"),
        ({**inpaint_values(), "mask_invert": "yes"}, "edit.mask_invert"),
        ({**FAST, "disable_seed_increment": "on"}, "disable_seed_increment"),
    ):
        with pytest.raises(InvalidRequest) as caught:
            request_from_values(values, info, inputs)
        assert caught.value.field == field


def test_generate_with_controls_then_load_parameters_refills_them(tiny_services, widgets, jobs):
    controls = {"mask_invert": True, "mask_grow": -2, "mask_feather": 0, "denoise": 0.7, "inpaint_context": 0.3}
    values = {**inpaint_values(**controls), "image_count": 2, "disable_seed_increment": True}
    handler = generate_handler(tiny_services, job_runner(widgets, jobs), Owners())
    paths = finished_paths(list(handler(Session(), **values)), widgets)
    recorded = [read_request(path) for path in paths]
    assert [request.seed for request in recorded] == [7, 7]
    assert recorded[0].edit.mask_invert and recorded[0].edit.denoise == 0.7
    updates = load_handler(tiny_services, widgets)(paths[0])
    panel = {name: updates[widget] for name, widget in widgets.inputs.items()}
    assert (panel["mask_invert"], panel["mask_grow"], panel["denoise"], panel["inpaint_context"]) == (True, -2, 0.7, 0.3)
    assert updates[widgets.settings["disable_seed_increment"]] is True
    settings = {name: updates[widget] for name, widget in widgets.settings.items() if widget in updates}
    again = request_from_values({**settings, **panel}, tiny_services.manager.info, tiny_services.engine.inputs)
    # the panel has no inpainting-model choice: '' lets the studio choose, which records 'base' again
    assert again.edit == replace(recorded[0].edit, inpaint_model="") and again.disable_seed_increment


def test_vary_button_takes_the_denoise_override(tiny_services, widgets, jobs):
    vary = uov_handler(tiny_services, job_runner(widgets, jobs), "Vary (Strong)")
    [path] = finished_paths(list(vary(Session(), **{**FAST, "uov_image": picture(), "uov_denoise": 0.25})), widgets)
    edit = read_request(path).edit
    assert edit.kind == "vary" and edit.vary_strength == "strong" and edit.denoise == 0.25
    assert Image.open(path).size == (64, 64)
