"""Expansion inside generation, and the plain-vs-expanded comparison at one seed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.engine import Engine
from studio.expansion.factory import ExpanderCache
from studio.expansion.settings import ExpansionSettings
from studio.expansion.side_by_side import compare_expansion
from studio.outputs import read_request
from studio.tiny import save_tiny_gpt2
from studio.types import InvalidRequest


@pytest.fixture(scope="module")
def expanding_engine(tiny_services, tmp_path_factory):
    folder = save_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny-gpt2")
    settings = ExpansionSettings(local_model=str(folder))
    libraries = replace(tiny_services.engine.libraries, expanders=ExpanderCache(settings, folder.parent, offline=True))
    return Engine(tiny_services.manager, libraries)


def test_local_expansion_is_part_of_the_recorded_prompt_and_seeded(expanding_engine, tiny_request):
    request = replace(tiny_request, expansion="local", image_count=2)
    first = expanding_engine.run(request).images
    again = expanding_engine.run(request).images
    for image, repeat in zip(first, again):
        assert image.request.prompt.startswith(tiny_request.prompt + ", ")
        assert image.request.expansion == "none", "the recorded prompt is already expanded"
        assert image.request.prompt == repeat.request.prompt
    assert first[0].request.prompt != first[1].request.prompt, "image seeds differ, so do their expansions"
    remade = expanding_engine.run(first[1].request).images[0]
    assert np.array_equal(np.asarray(remade.image), np.asarray(first[1].image))


def test_compare_gives_two_images_differing_only_by_prompt(expanding_engine, tiny_request, store):
    comparison = compare_expansion(expanding_engine, replace(tiny_request, image_count=3), "local", store)
    plain, expanded = (read_request(record.path) for record in comparison.records)
    assert plain.seed == expanded.seed == tiny_request.seed
    assert plain.prompt == tiny_request.prompt and expanded.prompt.startswith(tiny_request.prompt + ", ")
    assert replace(plain, prompt="") == replace(expanded, prompt="")
    assert not np.array_equal(np.asarray(comparison.plain.image), np.asarray(comparison.expanded.image))
    width, height = comparison.plain.image.size
    assert comparison.sheet.width > 2 * width and comparison.sheet.height > height
    assert comparison.sheet_path.endswith("_expansion-compare.png")
    assert len(store.history()) == 2, "the sheet has no request of its own, so History leaves it out"


def test_compare_needs_an_expansion_mode(expanding_engine, tiny_request):
    with pytest.raises(InvalidRequest, match="expansion"):
        compare_expansion(expanding_engine, tiny_request, "none")
