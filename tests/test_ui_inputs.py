"""The Input Image panel on the tiny model: widget values -> image prompts and edits, slot previews, an inpaint
through the Generate handler, Describe, Vary, and Load parameters refilling the panel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from studio.outputs import read_request
from studio.types import IMAGE_PROMPT_DEFAULTS, EditSpec, GenerationRequest, ImagePrompt, InvalidRequest
from studio.ui.events import generate_handler, job_runner, load_handler
from studio.ui.fields import request_from_values
from studio.ui.guard import guarded
from studio.ui.input_events import describe_handler, slot_preview, slot_type_defaults, uov_handler, use_as_input
from studio.ui.input_fields import default_input_values, editor_value
from studio.ui.session import Owners, Session

FAST = {"aspect_ratio": "64x64", "steps": 2, "cfg_scale": 5.0, "sampler": "Euler", "random_seed": False, "seed": "7"}


def picture(width=64, height=64) -> Image.Image:
    """A gradient with a dark square: edges for PyraCanny, structure an edit must keep."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 3 + 30, y * 3 + 20, (x + y) + 40], axis=-1).astype(np.uint8)
    rgb[20:40, 16:36] = (10, 20, 30)
    return Image.fromarray(rgb)


def painted_layer(box=(24, 20, 40, 36), size=(64, 64)) -> Image.Image:
    """An editor layer with a white brush stroke over `box` (transparent elsewhere)."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), box)
    return layer


def finished_paths(updates: list[dict], widgets) -> list[str]:
    galleries = [update[widgets.gallery] for update in updates if widgets.gallery in update]
    assert galleries, "the job finished and filled the gallery"
    return [path for path, _caption in galleries[-1]]


def test_request_from_values_reads_the_panel_by_name(tiny_services):
    info, store = tiny_services.manager.info, tiny_services.engine.inputs
    image = picture()
    panel = {
        "input_image": True,
        "ip_1_image": image, "ip_1_type": "PyraCanny", "ip_1_weight": 1.5, "ip_1_stop_at": 1.0,
        "ip_2_image": None, "ip_2_type": "CPDS",  # an empty slot is skipped
        "ip_3_image": image, "ip_3_type": "ImagePrompt", "ip_3_weight": 0.6, "ip_3_stop_at": 0.5,
        "ip_3_skip_preprocess": True,
    }  # fmt: skip
    request = request_from_values({**FAST, **panel}, info, store)
    digest = store.put(image)
    assert request.image_prompts == (
        ImagePrompt.of(digest, "PyraCanny", 1.5, 1.0),
        ImagePrompt.of(digest, "ImagePrompt", 0.6, 0.5, skip_preprocess=True),
    )
    assert request.edit is None, "the editor is used only while its tab is open"
    assert request_from_values({**FAST, **panel, "input_image": False}, info, store).image_prompts == ()

    # the inpaint tab: the painted layer is the mask (white = repaint), stored by hash like the picture
    editor = {"background": image, "layers": [painted_layer()], "composite": image}
    inpaint = {"input_image": True, "input_tab": "inpaint", "edit_image": editor, "mask_grow": 4, "mask_feather": 2}
    edit = request_from_values({**FAST, **inpaint}, info, store).edit
    assert edit == EditSpec(kind="inpaint", image=digest, mask=edit.mask, mask_grow=4, mask_feather=2)
    mask = np.asarray(store.get(edit.mask))
    assert mask[20:36, 24:40].min() == 255 and mask.sum() == 255 * 16 * 16
    outpaint = {**inpaint, "outpaint_sides": ["right"], "outpaint_size": 0.5}
    assert request_from_values({**FAST, **outpaint}, info, store).edit == EditSpec(
        kind="outpaint", image=digest, outpaint_sides=("right",), outpaint_size=0.5, mask_grow=4, mask_feather=2
    )
    with pytest.raises(InvalidRequest) as caught:  # nothing painted, no side: said, not guessed
        request_from_values({**FAST, **inpaint, "edit_image": editor_value(image)}, info, store)
    assert caught.value.field == "edit.mask"
    with pytest.raises(InvalidRequest) as caught:
        request_from_values({**FAST, "ip_1_tpye": "CPDS"}, info, store)
    assert caught.value.field == "ip_1_tpye"
    with pytest.raises(InvalidRequest) as caught:
        request_from_values({**FAST, **panel, "ip_1_type": "Sketch"}, info, store)
    assert caught.value.field == "image_prompts[0].type"


def test_slot_previews_show_the_map_at_the_output_size_and_say_why_not(tiny_services):
    engine = tiny_services.engine
    edges, message = slot_preview(engine, picture(48, 80), "PyraCanny", False, "64x64", 0)
    assert message == "" and edges.size == (64, 64)
    values = np.asarray(edges.convert("L"))
    assert values.max() > 200 and (values > 127).mean() < 0.5, "white edges on black"
    raw, _ = slot_preview(engine, picture(), "PyraCanny", True, "64x64", 0)
    assert np.array_equal(np.asarray(raw), np.asarray(picture())), "as-is: the image itself is the map"
    none, message = slot_preview(engine, picture(), "FaceSwap", False, "64x64", 2)  # no face in it
    assert none is None and message.startswith("⚠ Image prompt 3: no face was found")
    assert slot_preview(engine, None, "CPDS", False, "64x64", 0) == (None, "")
    assert slot_type_defaults("FaceSwap") == IMAGE_PROMPT_DEFAULTS["FaceSwap"]


def test_inpaint_through_generate_keeps_the_pixels_outside_the_mask(tiny_services, widgets, jobs):
    image = picture()
    editor = {"background": image, "layers": [painted_layer()], "composite": image}
    values = {**FAST, "prompt": "a book", "input_image": True, "input_tab": "inpaint", "edit_image": editor}
    values.update(mask_grow=2, mask_feather=2)
    handler = generate_handler(tiny_services, job_runner(widgets, jobs), Owners())
    session = Session()
    [path] = finished_paths(list(handler(session, **values)), widgets)
    out = np.asarray(Image.open(path).convert("RGB")).astype(int)
    inside = np.zeros((64, 64), bool)
    inside[20 - 2 : 36 + 2, 24 - 2 : 40 + 2] = True  # the painted box grown by 2
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out[~inside], np.asarray(image).astype(int)[~inside])
    assert np.abs(out[inside] - np.asarray(image).astype(int)[inside]).mean() > 5, "the masked area was repainted"
    assert read_request(path).edit.kind == "inpaint"

    # "Use as input" puts the selected result into the editor and Vary/Upscale; Vary runs on it
    session.select(0)
    edit_value, uov_value, opened = use_as_input(session)
    assert opened is True and edit_value["background"].size == (64, 64) and uov_value.size == (64, 64)
    vary = uov_handler(tiny_services, job_runner(widgets, jobs), "Vary (Subtle)")
    varied = finished_paths(list(vary(session, **{**FAST, "uov_image": None})), widgets)[0]  # newest first
    recorded = read_request(varied).edit
    assert recorded.kind == "vary" and recorded.image == tiny_services.engine.inputs.put(
        Image.open(path).convert("RGB")
    )


def test_describe_writes_a_prompt_and_failures_only_warn(tiny_services, monkeypatch):
    describe = guarded("Describe", describe_handler(tiny_services))  # as it is wired
    text = describe(picture(), "illustration")
    assert isinstance(text, str) and text.endswith("illustration, digital painting, clean lines, vibrant colors")
    from studio.models import ModelUnavailable

    def unavailable(image, style):
        raise ModelUnavailable("describe model could not be loaded")

    monkeypatch.setattr(tiny_services.engine.edit_models, "describe", unavailable)
    with pytest.warns(UserWarning, match="could not be loaded"):
        assert describe(picture(), "photo") is not None  # gr.skip(): the prompt box keeps its text


def test_load_parameters_refills_the_slots_and_the_editor(tiny_services, widgets, store):
    inputs = tiny_services.engine.inputs
    info = tiny_services.manager.info
    kept, lost = picture(), picture(32, 32)
    slots = (ImagePrompt.of(inputs.put(kept), "CPDS", 1.25, 0.8), ImagePrompt.of("ab" * 32, "FaceSwap"))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (8, 8, 24, 24))
    edit = EditSpec(kind="inpaint", image=inputs.put(kept), mask=inputs.put(mask), inpaint_mode="improve_detail")
    request = GenerationRequest(prompt="slots", seed=5, width=64, height=64, steps=2, model=info.name)
    record = store.save(lost, replace(request, image_prompts=slots, edit=edit))
    with pytest.warns(UserWarning, match="image prompt 2"):
        updates = load_handler(tiny_services, widgets)(record.path)
    panel = {name: updates[widget] for name, widget in widgets.inputs.items()}
    assert panel["input_image"] is True and panel["input_tab"] == "inpaint"
    assert np.array_equal(np.asarray(panel["ip_1_image"]), np.asarray(kept))
    assert (panel["ip_1_type"], panel["ip_1_weight"], panel["ip_1_stop_at"]) == ("CPDS", 1.25, 0.8)
    assert panel["ip_2_image"] is None, "a missing input leaves its slot empty"
    assert panel["inpaint_mode"] == "improve_detail"
    # the refilled panel re-makes the recorded slots and edit
    values = {name: updates[widget] for name, widget in widgets.settings.items() if widget in updates}
    again = request_from_values({**values, **panel}, info, inputs)
    assert again.image_prompts == slots[:1] and again.edit == edit
    assert default_input_values()["ip_1_image"] is None
