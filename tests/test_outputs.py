"""Saved PNGs: layout, metadata round trip, history, and refusing bad metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.outputs import a1111_parameters, read_request, studio_metadata
from studio.types import GenerationRequest, InvalidRequest


def test_saved_png_metadata_remakes_the_same_pixels(tiny_services, tiny_request, store):
    generated = tiny_services.engine.run(replace(tiny_request, image_count=2)).images[1]
    record = store.save(generated.image, generated.request)
    loaded_request = read_request(record.path)
    assert loaded_request == generated.request
    remade = tiny_services.engine.run(loaded_request).images[0]
    assert np.array_equal(np.asarray(Image.open(record.path).convert("RGB")), np.asarray(remade.image))


def test_layout_and_chunks(store, tiny_request):
    when = datetime(2026, 11, 23, 14, 5, 9)
    record = store.save(Image.new("RGB", (64, 64), "red"), tiny_request, when=when)
    assert record.path == str(store.root / "2026-11-23" / f"14-05-09_{tiny_request.seed}.png")
    text = Image.open(record.path).text
    assert json.loads(text["studio"]) == {"version": 1, "request": tiny_request.to_dict()}
    assert text["parameters"].startswith("a red cube on a table\n")
    assert "Steps: 2, Sampler: Euler, CFG scale: 5, Seed: 7, Size: 64x64" in text["parameters"]
    second = store.save(Image.new("RGB", (64, 64), "blue"), tiny_request, when=when)
    assert second.path.endswith(f"14-05-09_{tiny_request.seed}_1.png"), "a second save must not overwrite the first"
    assert [p.name for p in (store.root / "2026-11-23").iterdir() if p.name.startswith(".")] == []


def test_history_lists_newest_first_and_ignores_foreign_pngs(store, tiny_request):
    for seed in (1, 2, 3):
        store.save(Image.new("RGB", (8, 8)), replace(tiny_request, seed=seed))
    Image.new("RGB", (8, 8)).save(store.root / datetime.now().strftime("%Y-%m-%d") / "foreign.png")
    assert [r.seed for r in store.history()] == [3, 2, 1]


def test_a1111_parameters_include_negative_prompt(tiny_request):
    text = a1111_parameters(replace(tiny_request, negative_prompt="blurry"))
    assert text.splitlines()[1] == "Negative prompt: blurry"


def _png_with_studio_chunk(path, text):
    info = PngImagePlugin.PngInfo()
    info.add_itxt("studio", text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


@pytest.mark.parametrize(
    "text, field_name",
    [
        ("not json", "metadata"),
        (json.dumps({"version": 99, "request": {}}), "metadata"),
        (json.dumps({"version": 1, "request": {"prompt": "x", "steps": "30"}}), "steps"),
        (json.dumps({"version": 1, "request": {"prompt": "x", "evil": "__import__('os')"}}), "evil"),
        (json.dumps({"version": 1, "request": ["a"]}), "metadata"),
        (json.dumps({"version": 1, "request": {"seed": True}}), "seed"),
    ],
)
def test_bad_metadata_is_refused(tmp_path, text, field_name):
    path = _png_with_studio_chunk(tmp_path / "bad.png", text)
    with pytest.raises(InvalidRequest) as error:
        read_request(path)
    assert error.value.field == field_name


def test_code_in_metadata_stays_text(tmp_path, tiny_request):
    request = replace(tiny_request, prompt="__import__('os').system('touch pwned')")
    path = _png_with_studio_chunk(tmp_path / "p.png", studio_metadata(request))
    assert read_request(path).prompt == request.prompt
    assert not (tmp_path / "pwned").exists()


def test_non_png_and_plain_png_are_refused(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InvalidRequest, match="image"):
        read_request(tmp_path / "junk.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    with pytest.raises(InvalidRequest, match="no studio metadata"):
        read_request(tmp_path / "plain.png")


def test_request_json_round_trip():
    request = GenerationRequest(prompt="ünïcode ✓", seed=2**63 - 1, cfg_scale=4.5)
    assert GenerationRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
