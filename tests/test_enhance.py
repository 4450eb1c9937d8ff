"""Masks from words and Enhance (issue 16) on the tiny model and the tiny detector/segmenter.

The tiny detector is made deterministic by the seam documented in studio/segment/tiny_models.py: whatever the
words, it finds the top-right quadrant with score TINY_DETECTION_SCORE. Text, processors, model,
post-processing and SAM are the real path.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from studio.edit import masks
from studio.enhance_spec import EnhanceRegion, EnhanceSpec
from studio.segment.text_masks import detector_text, select_boxes
from studio.segment.tiny_models import TINY_DETECTED_BOX, TINY_DETECTION_SCORE
from studio.types import EditSpec, GenerationRequest, InvalidRequest, validate_request
from tests.test_edit import picture


@pytest.fixture(scope="module")
def engine(tiny_services):
    return tiny_services.engine


def quadrant(size) -> np.ndarray:
    """The boolean box the tiny detector finds in a picture of `size`."""
    width, height = size
    x0, y0, x1, y1 = TINY_DETECTED_BOX
    box = np.zeros((height, width), bool)
    box[int(y0 * height) : int(np.ceil(y1 * height)), int(x0 * width) : int(np.ceil(x1 * width))] = True
    return box


def test_detector_text_reads_phrases_as_grounding_dino_wants():
    assert detector_text("  Face ") == "face."
    assert detector_text("Left Hand, eyes.") == "left hand. eyes."
    with pytest.raises(InvalidRequest, match="text: is empty"):
        detector_text(" , . ")


def test_select_boxes_clips_drops_duplicates_and_orders_by_score():
    boxes = [[-5, 2, 30.2, 40], [0, 2, 30, 40.5], [40, 40, 90, 70], [10, 10, 10, 20]]
    chosen = select_boxes([0.5, 0.6, 0.4, 0.9], boxes, 64, 64)
    assert chosen.tolist() == [[0, 2, 30, 41], [40, 40, 64, 64]]  # the empty box and the weaker duplicate go


def test_mask_from_words_takes_the_real_path_and_honours_threshold_and_grow(engine):
    image = picture(80, 64)
    found = engine.text_masks.boxes(image, "face", threshold=0.5)
    assert len(found) == 1 and found[0].tolist() == [40, 0, 80, 32]
    mask = engine.text_masks.mask(image, "face", threshold=0.5)
    box = quadrant(image.size)
    assert mask.any() and not (mask & ~box).any()  # SAM's mask, kept inside the detector's box
    grown = engine.text_masks.mask(image, "face", threshold=0.5, grow=3)
    assert np.array_equal(grown, masks.grow(mask, 3)) and grown.sum() > mask.sum()
    # the score is TINY_DETECTION_SCORE: a threshold above it finds nothing
    assert not engine.text_masks.mask(image, "face", threshold=TINY_DETECTION_SCORE + 0.05).any()


def test_tight_memory_plan_moves_the_models_off_the_device_after_each_mask(engine, monkeypatch):
    from studio.performance_policy import MemoryPlan
    from studio.segment import text_masks

    moved, freed = [], []
    monkeypatch.setattr(engine.manager, "memory_plan", MemoryPlan("low"))
    monkeypatch.setattr("studio.device_memory.free_memory", lambda: freed.append(True))
    engine.text_masks.mask(picture(), "hands", threshold=0.5)
    for model, _ in engine.text_masks._loaded.values():
        moved.append(next(model.parameters()).device.type)
    assert moved == ["cpu", "cpu"] and freed == [True]
    monkeypatch.setattr(engine.manager, "memory_plan", MemoryPlan("high"))
    engine.text_masks.mask(picture(), "hands", threshold=0.5)
    assert freed == [True]  # a roomy plan keeps them where they are
    assert text_masks.TIGHT_MEMORY_PLANS == ("low", "cpu-offload")


def enhanced(tiny_request, **region) -> GenerationRequest:
    spec = EnhanceSpec((EnhanceRegion(**{"detect": "face", "threshold": 0.5, "grow": 2, **region}),))
    return replace(tiny_request, steps=3, enhance=spec)


def test_enhance_changes_only_the_grown_masks_and_remakes_from_metadata(engine, tiny_request, tmp_path):
    from studio.outputs import OutputStore, read_request

    plain = engine.run(replace(tiny_request, steps=3)).images[0].image
    request = enhanced(tiny_request, prompt="a blue sphere", strength=0.8, inpaint_mode="modify_content")
    result = engine.run(request)
    out = result.images[0].image
    grown = engine.text_masks.mask(plain, "face", 0.5, grow=2)
    before, after = np.asarray(plain), np.asarray(out)
    assert np.array_equal(before[~grown], after[~grown])  # outside the grown mask: byte-identical
    assert np.abs(before[grown].astype(int) - after[grown].astype(int)).mean() > 1  # inside: re-painted
    # the metadata records the enhance and re-makes the image exactly
    record = OutputStore(tmp_path).save(out, result.images[0].request)
    recorded = read_request(record.path)
    assert recorded.enhance == request.enhance
    assert np.array_equal(np.asarray(engine.run(recorded).images[0].image), after)


def test_neutral_enhance_is_todays_image_and_old_metadata_still_loads(engine, tiny_request):
    data = replace(tiny_request, steps=3).to_dict()
    assert data["enhance"] is None
    del data["enhance"]  # a PNG written before Enhance existed
    old = GenerationRequest.from_dict(json.loads(json.dumps(data)))
    assert old.enhance is None and old == replace(tiny_request, steps=3)


def test_each_region_setting_has_an_effect(engine, tiny_request):
    base = np.asarray(engine.run(enhanced(tiny_request)).images[0].image)
    for change in ({"prompt": "a green tree"}, {"strength": 0.9}, {"inpaint_mode": "default"}, {"grow": 6}):
        other = np.asarray(engine.run(enhanced(tiny_request, **change)).images[0].image)
        assert not np.array_equal(base, other), change
    nothing = engine.run(enhanced(tiny_request, threshold=0.95)).images[0].image  # finds nothing: unchanged
    assert np.array_equal(np.asarray(nothing), np.asarray(engine.run(replace(tiny_request, steps=3)).images[0].image))


def test_enhance_before_or_after_upscale(engine, tiny_request):
    image = picture(48, 48)
    upscale = replace(tiny_request, steps=2, edit=EditSpec(kind="upscale", image=engine.inputs.put(image), upscale="fast2"))
    plain = np.asarray(engine.run(upscale).images[0].image)
    spec = EnhanceSpec((EnhanceRegion("face", strength=0.9, threshold=0.5, grow=0),))
    after = np.asarray(engine.run(replace(upscale, enhance=spec)).images[0].image)
    before = np.asarray(engine.run(replace(upscale, enhance=replace(spec, order="before_upscale"))).images[0].image)
    box = quadrant((96, 96))
    assert np.array_equal(plain[~box], after[~box]) and not np.array_equal(plain, after)
    assert not np.array_equal(before, after) and not np.array_equal(before, plain)


def test_bad_enhance_fields_name_the_field():
    def check(data):
        request = GenerationRequest.from_dict({"enhance": data})
        validate_request(request, None)

    with pytest.raises(InvalidRequest, match=r"enhance.regions: has 4 regions; it takes 1 to 3"):
        check({"regions": [{"detect": "face"}] * 4})
    with pytest.raises(InvalidRequest, match=r"enhance.regions\[0\].strength: is 2; it must be between 0.05 and 1"):
        check({"regions": [{"detect": "face", "strength": 2}]})
    with pytest.raises(InvalidRequest, match=r"enhance.regions\[0\].detect: is empty"):
        check({"regions": [{"detect": " "}]})
    with pytest.raises(InvalidRequest, match=r"enhance.regions\[0\].inpaint_mode: 'x' is unknown"):
        check({"regions": [{"detect": "face", "inpaint_mode": "x"}]})
    with pytest.raises(InvalidRequest, match=r"enhance.order: 'later' is unknown"):
        check({"regions": [{"detect": "face"}], "order": "later"})
    with pytest.raises(InvalidRequest, match=r"enhance.regions\[0\].colour: is not an enhance region field"):
        check({"regions": [{"detect": "face", "colour": 1}]})


def test_skip_during_enhance_drops_the_image_and_the_job_goes_on(engine, tiny_request):
    from studio.jobs import JobControl

    control = JobControl()
    phases = []

    def on_progress(event):
        phases.append(event.phase)
        if event.phase.startswith("enhance 1") and event.image_index == 0:
            control.skip()

    request = replace(enhanced(tiny_request), image_count=2)
    result = engine.run(request, on_progress=on_progress, control=control)
    assert "enhance 1: face" in phases and result.skipped == (0,) and len(result.images) == 1


def test_without_the_real_models_offline_the_message_says_how_to_get_them(tmp_path):
    from studio.models import ModelUnavailable, PipelineManager
    from studio.segment.text_masks import TextMasks
    from studio.settings import Settings

    manager = PipelineManager(Settings(models_dir=tmp_path, device="cpu", offline=True))
    with pytest.raises(ModelUnavailable, match=r"IDEA-Research/grounding-dino-tiny.*Connect once.*registry"):
        TextMasks(manager, random_weights=False).mask(picture(), "face", 0.3)
