"""Issue 15 part C: how the images of one request differ: seed increment on/off, wildcards by seed or in
order, and `[[a, b]]` arrays as a Cartesian product over the images."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from studio.generate_cli import add_arguments, request_from_args
from studio.types import GenerationRequest, InvalidRequest
from studio.wildcards import WildcardLibrary, apply_arrays, combination_count


@pytest.fixture
def wildcards(tmp_path):
    (tmp_path / "fruit.txt").write_text("# a comment\napple\nbanana\ncherry\n", encoding="utf-8")
    return WildcardLibrary((tmp_path,))


def test_arrays_make_the_cartesian_product_first_array_fastest():
    text = "a [[red, blue]] [[cube, ball, cone]]"
    assert combination_count(text) == 6 and combination_count("no arrays") == 1
    prompts = [apply_arrays(text, index) for index in range(7)]
    assert prompts[:6] == [
        "a red cube", "a blue cube", "a red ball", "a blue ball", "a red cone", "a blue cone",
    ]  # fmt: skip
    assert len(set(prompts[:6])) == 6 and prompts[6] == prompts[0]  # every pair once, then it cycles
    # arrays of 2 and 4 make 8 combinations (cycling each array alone would make only 4)
    assert len({apply_arrays("[[a, b]] [[w, x, y, z]]", index) for index in range(8)}) == 8


def test_wildcards_in_order_take_line_i_for_image_i(wildcards):
    assert [wildcards.expand("__fruit__", 99, index, in_order=True) for index in range(4)] == [
        "apple", "banana", "cherry", "apple",
    ]  # fmt: skip
    by_seed = {wildcards.expand("__fruit__", seed, 0) for seed in range(20)}
    assert len(by_seed) > 1, "by default the line is picked by the seed, not the image index"
    assert wildcards.expand("__fruit__ __fruit__", 3, 1, in_order=True) == "banana banana"


def test_requests_resolve_the_product_seeds_and_order(tiny_services, tiny_request):
    engine = tiny_services.engine
    request = replace(tiny_request, prompt="a [[red, blue]] [[cube, ball, cone]]", image_count=6)
    images = engine.resolve(request)
    assert [image.prompt for image in images] == [apply_arrays(request.prompt, index) for index in range(6)]
    assert [image.seed for image in images] == [7, 8, 9, 10, 11, 12]
    same = engine.resolve(replace(request, disable_seed_increment=True))
    assert [image.seed for image in same] == [7] * 6
    colors = WildcardLibrary().lines("color")
    ordered = engine.resolve(replace(tiny_request, prompt="__color__", image_count=3, wildcards_in_order=True))
    assert [image.prompt for image in ordered] == list(colors[:3])


def test_same_seed_images_differ_only_by_their_prompt(tiny_services, tiny_request):
    result = tiny_services.engine.run(
        replace(tiny_request, prompt="a [[red, red, blue]] cube", image_count=3, disable_seed_increment=True)
    )
    first, second, third = (np.asarray(image.image) for image in result.images)
    assert [image.request.seed for image in result.images] == [7, 7, 7]
    assert np.array_equal(first, second), "the same seed and prompt make the same picture"
    assert not np.array_equal(first, third)
    incremented = tiny_services.engine.run(replace(tiny_request, prompt="a red cube", image_count=2))
    assert not np.array_equal(*(np.asarray(image.image) for image in incremented.images))


def test_neutral_settings_make_todays_images(tiny_services, tiny_request):
    """The flags off give the same images as a request that never names them (an old PNG's request)."""
    data = tiny_request.to_dict()
    del data["disable_seed_increment"], data["wildcards_in_order"]
    old = GenerationRequest.from_dict(json.loads(json.dumps(data)))
    assert old == replace(tiny_request, disable_seed_increment=False, wildcards_in_order=False)
    made = tiny_services.engine.run(replace(old, image_count=2)).images
    assert [image.request.seed for image in made] == [7, 8]


@pytest.mark.parametrize("value", [1, "yes", None])
def test_flags_take_true_or_false_only(value):
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.from_dict({"disable_seed_increment": value})
    assert caught.value.field == "disable_seed_increment" and "true or false" in caught.value.message


def test_cli_flags(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    plain = request_from_args(parser.parse_args(["--seed", "3"]))
    assert not plain.disable_seed_increment and not plain.wildcards_in_order
    flagged = request_from_args(parser.parse_args(["--seed", "3", "--same-seed", "--wildcards-in-order"]))
    assert flagged.disable_seed_increment and flagged.wildcards_in_order
