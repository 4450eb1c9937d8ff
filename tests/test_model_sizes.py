"""The sizes a model offers are sizes it takes: every aspect ratio the tiny model lists generates, and a size
off its grid is refused when the job is submitted, naming the side, before anything is queued."""

from __future__ import annotations

from dataclasses import replace

import pytest

from studio.jobqueue import JobQueue
from studio.models import SDXL_NATIVE_SIZES, TINY_NATIVE_SIZES, TINY_SIZE_LIMIT
from studio.types import SDXL_SIZE_LIMIT, InvalidRequest
from studio.ui.fields import aspect_ratio_choices, parse_size


def offered_sizes(info) -> list[tuple[int, int]]:
    return [parse_size(value) for _label, value in aspect_ratio_choices(info)]


def test_every_offered_tiny_size_generates(tiny_services, tiny_request):
    engine = tiny_services.engine
    sizes = offered_sizes(engine.manager.info)
    assert sizes == list(TINY_NATIVE_SIZES) and len(sizes) == len(set(sizes)) >= 10
    requests = [engine.validate(replace(tiny_request, width=w, height=h, steps=1)) for w, h in sizes]
    runs = engine.run_many(requests)
    assert [run.generated.image.size for run in runs] == sizes


def test_tiny_sizes_keep_sdxl_aspects_and_the_square_default(tiny_services):
    info = tiny_services.manager.info
    assert info.default_size == (64, 64)
    for w, h in TINY_NATIVE_SIZES:
        TINY_SIZE_LIMIT.check("width", w)
        TINY_SIZE_LIMIT.check("height", h)
    wide = max(SDXL_NATIVE_SIZES, key=lambda s: s[0] / s[1])
    assert max(w / h for w, h in TINY_NATIVE_SIZES) == pytest.approx(wide[0] / wide[1], rel=0.25)


def test_sdxl_sizes_are_on_the_sdxl_grid():
    for w, h in SDXL_NATIVE_SIZES:
        SDXL_SIZE_LIMIT.check("width", w)
        SDXL_SIZE_LIMIT.check("height", h)


@pytest.mark.parametrize("side", ["width", "height"])
def test_a_size_off_the_grid_is_refused_at_submission(tiny_services, tiny_request, side):
    queue = JobQueue(tiny_services.engine, tiny_services.store)  # not started: nothing could run anyway
    with pytest.raises(InvalidRequest, match="multiple of 8") as caught:
        queue.submit(replace(tiny_request, **{side: 44}), owner="someone")
    assert caught.value.field == side
    assert queue.jobs_of("someone") == [], "nothing was queued"
