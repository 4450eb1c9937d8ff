"""Enhance and Mask from text in the UI (issue 16): the panel's values by name, the Make mask button, a
Generate with Enhance, Load parameters, and the page in Chromium. Tiny models; the tiny detector finds the
top-right quadrant whatever the words (studio/segment/tiny_models.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.enhance_spec import EnhanceRegion, EnhanceSpec
from studio.outputs import read_request
from studio.types import InvalidRequest
from studio.ui.enhance_fields import default_enhance_values
from studio.ui.enhance_panel import mask_from_text_handler
from studio.ui.events import generate_handler, job_runner, load_handler
from studio.ui.fields import request_from_values
from studio.ui.guard import guarded
from studio.ui.input_fields import editor_parts
from studio.ui.messages import user_message
from studio.ui.session import Owners, Session
from tests.test_edit import picture

FAST = {"aspect_ratio": "64x64", "steps": 2, "cfg_scale": 5.0, "sampler": "Euler", "random_seed": False, "seed": "9"}


def region_values(index=1, **parts) -> dict:
    return {f"enhance_{index}_{part}": value for part, value in parts.items()}


def test_enhance_values_by_name_make_the_request_and_name_the_widget(tiny_services):
    info = tiny_services.manager.info
    assert request_from_values(FAST, info).enhance is None  # off: the neutral request
    values = {**FAST, "enhance": True, **region_values(1, detect="face", strength=0.7, grow=4.0), **region_values(3, detect="hands", prompt="open hand")}
    spec = request_from_values(values, info).enhance
    assert spec == EnhanceSpec((EnhanceRegion("face", strength=0.7, grow=4), EnhanceRegion("hands", prompt="open hand")))
    with pytest.raises(InvalidRequest) as error:
        request_from_values({**FAST, "enhance": True}, info)
    assert user_message(error.value, "Generate").startswith("Enhance region 1 words: Enhance is on")
    with pytest.raises(InvalidRequest) as error:
        request_from_values({**values, **region_values(3, strength=2)}, info)
    assert user_message(error.value, "Generate") == "Enhance region 3 strength: 2 is not allowed; it must be between 0.05 and 1."


def test_make_mask_paints_the_found_mask_into_the_editor_and_failures_only_warn(tiny_services):
    make = guarded("Make mask", mask_from_text_handler(tiny_services))  # as it is wired
    image = picture(64, 48)
    value = make({"background": image, "layers": [], "composite": image}, "face", 0.5, 0)
    shown, mask = editor_parts(value)
    assert shown.size == (64, 48)
    found = np.asarray(mask) > 127
    assert found.any() and not found[:, :32].any() and not found[24:].any()
    with pytest.warns(UserWarning, match="Mask from text: 'face' found nothing at threshold 0.9"):
        assert make({"background": image, "layers": [], "composite": image}, "face", 0.9, 0) is not None
    with pytest.warns(UserWarning, match="upload a picture"):
        make(None, "face", 0.5, 0)


def test_generate_with_enhance_and_load_parameters(tiny_services, widgets, jobs):
    values = {**FAST, "prompt": "a portrait", "enhance": True, **region_values(1, detect="face", threshold=0.5, strength=0.8)}
    handler = generate_handler(tiny_services, job_runner(widgets, jobs), Owners())
    updates = list(handler(Session(), **values))
    galleries = [update[widgets.gallery] for update in updates if widgets.gallery in update]
    path = galleries[-1][0][0]
    recorded = read_request(path)
    assert recorded.enhance.regions[0].detect == "face" and recorded.enhance.regions[0].strength == 0.8
    loaded = load_handler(tiny_services, widgets)(path)
    panel = {name: loaded[widget] for name, widget in widgets.inputs.items()}
    assert panel["enhance"] is True and panel["enhance_1_detect"] == "face" and panel["enhance_2_detect"] == ""
    settings = {name: loaded[widget] for name, widget in widgets.settings.items() if widget in loaded}
    again = request_from_values({**settings, **panel}, tiny_services.manager.info, tiny_services.engine.inputs)
    assert again.enhance == recorded.enhance
    assert np.array_equal(
        np.asarray(tiny_services.engine.run(recorded).images[0].image), np.asarray(Image.open(path).convert("RGB"))
    )
    assert default_enhance_values()["enhance"] is False
