"""The engine on the tiny model: determinism, seeds, samplers, stop and skip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.jobs import JobControl
from studio.schedulers import SAMPLER_NAMES
from studio.types import InvalidRequest


def pixels(generated) -> np.ndarray:
    return np.asarray(generated.image)


def test_same_request_gives_identical_pixels(tiny_services, tiny_request):
    first = tiny_services.engine.run(tiny_request)
    second = tiny_services.engine.run(tiny_request)
    assert np.array_equal(pixels(first.images[0]), pixels(second.images[0]))


def test_different_seeds_give_different_images(tiny_services, tiny_request):
    a = tiny_services.engine.run(tiny_request).images[0]
    b = tiny_services.engine.run(replace(tiny_request, seed=tiny_request.seed + 100)).images[0]
    assert np.abs(pixels(a).astype(int) - pixels(b).astype(int)).mean() > 1.0


def test_image_i_uses_seed_plus_i_and_remakes_alone(tiny_services, tiny_request):
    batch = tiny_services.engine.run(replace(tiny_request, image_count=3))
    assert [g.request.seed for g in batch.images] == [7, 8, 9]
    assert all(g.request.image_count == 1 for g in batch.images)
    alone = tiny_services.engine.run(batch.images[2].request).images[0]
    assert np.array_equal(pixels(alone), pixels(batch.images[2]))
    assert not np.array_equal(pixels(batch.images[0]), pixels(batch.images[1]))


def test_prompt_changes_the_image(tiny_services, tiny_request):
    a = tiny_services.engine.run(tiny_request).images[0]
    b = tiny_services.engine.run(replace(tiny_request, prompt="a blue sphere in the sky")).images[0]
    assert not np.array_equal(pixels(a), pixels(b))


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_runs_and_is_reproducible(tiny_services, tiny_request, sampler):
    request = replace(tiny_request, sampler=sampler, steps=3)
    first = tiny_services.engine.run(request).images[0]
    second = tiny_services.engine.run(request).images[0]
    assert first.image.size == (64, 64)
    assert np.array_equal(pixels(first), pixels(second)), f"{sampler} is not reproducible for one seed"


def test_samplers_differ_from_each_other(tiny_services, tiny_request):
    euler = tiny_services.engine.run(replace(tiny_request, sampler="Euler", steps=4)).images[0]
    ancestral = tiny_services.engine.run(replace(tiny_request, sampler="Euler a", steps=4)).images[0]
    assert not np.array_equal(pixels(euler), pixels(ancestral))


def test_progress_reports_every_step_with_a_preview(tiny_services, tiny_request):
    events = []
    tiny_services.engine.run(replace(tiny_request, steps=3, image_count=2), on_progress=events.append)
    assert [(e.image_index, e.step, e.total_steps) for e in events] == [(0, 1, 3), (0, 2, 3), (0, 3, 3), (1, 1, 3), (1, 2, 3), (1, 3, 3)]
    preview = events[-1].preview
    assert preview.dtype == np.uint8 and preview.shape == (32, 32, 3)  # the tiny VAE downsamples 2x


def test_stop_keeps_finished_images_and_ends_the_job(tiny_services, tiny_request):
    control = JobControl()

    def stop_during_second_image(event):
        if event.image_index == 1 and event.step == 1:
            control.stop()

    result = tiny_services.engine.run(replace(tiny_request, image_count=4, steps=3), on_progress=stop_during_second_image, control=control)
    assert result.stopped
    assert [g.request.seed for g in result.images] == [7]


def test_skip_drops_only_the_current_image(tiny_services, tiny_request):
    control = JobControl()

    def skip_second_image(event):
        if event.image_index == 1 and event.step == 1:
            control.skip()

    result = tiny_services.engine.run(replace(tiny_request, image_count=3, steps=3), on_progress=skip_second_image, control=control)
    assert not result.stopped
    assert result.skipped == (1,)
    assert [g.request.seed for g in result.images] == [7, 9]


@pytest.mark.parametrize(
    "change, field_name",
    [
        (dict(steps=0), "steps"),
        (dict(steps=151), "steps"),
        (dict(cfg_scale=30.5), "cfg_scale"),
        (dict(cfg_scale=float("nan")), "cfg_scale"),
        (dict(image_count=33), "image_count"),
        (dict(seed=-1), "seed"),
        (dict(seed=2**63), "seed"),
        (dict(width=66), "width"),
        (dict(height=1024), "height"),
        (dict(prompt="x" * 4001), "prompt"),
        (dict(sampler="Fastest"), "sampler"),
    ],
)
def test_bad_values_are_refused_naming_the_field(tiny_services, tiny_request, change, field_name):
    with pytest.raises(InvalidRequest) as error:
        tiny_services.engine.run(replace(tiny_request, **change))
    assert error.value.field == field_name
    assert field_name in str(error.value)
