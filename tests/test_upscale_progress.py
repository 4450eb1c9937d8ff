"""Upscale on the tiny models: progress names the phase and counts tiles, and Stop/Skip act within one tile."""

from __future__ import annotations

from dataclasses import replace

import pytest

from studio.edit import upscale
from studio.jobs import JobControl
from studio.types import EditSpec, ProgressEvent
from studio.ui.generation import progress_text
from tests.test_edit import picture

SMALL_MODEL_TILE = 32  # 64x64 input -> 3x3 overlapping model tiles: several tiles from a tiny picture


@pytest.fixture
def engine(tiny_services, monkeypatch):
    monkeypatch.setattr(upscale, "MODEL_TILE", SMALL_MODEL_TILE)
    return tiny_services.engine


@pytest.fixture
def counted(engine, monkeypatch):
    """Counts of the work actually done: upscale-model tiles run and refine tiles decoded."""
    import studio.decode

    counts = {"model_tiles": 0, "decodes": 0}
    descriptor = engine.edit_models.upscaler()

    class Counting:
        device, dtype, scale = descriptor.device, descriptor.dtype, descriptor.scale

        def __call__(self, tile):
            counts["model_tiles"] += 1
            return descriptor(tile)

    decode = studio.decode.decode_latents

    def counting_decode(*args, **kwargs):
        counts["decodes"] += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(engine.edit_models, "upscaler", lambda: Counting())
    monkeypatch.setattr(studio.decode, "decode_latents", counting_decode)
    return counts


def upscale_request(engine, tiny_request, mode: str, size=(64, 64), **changes):
    edit = EditSpec(kind="upscale", image=engine.inputs.put(picture(*size, seed=3)), upscale=mode)
    return replace(tiny_request, edit=edit, **changes)


REFINED = (48, 32)  # 2x: 96x64, refined in two 64x64 tiles (the tiny model's native size), two model tiles


def test_fast_upscale_reports_each_model_tile(engine, tiny_request):
    events: list[ProgressEvent] = []
    result = engine.run(upscale_request(engine, tiny_request, "fast2"), on_progress=events.append)
    assert len(result.images) == 1
    assert [(e.phase, e.tile, e.tiles) for e in events] == [("upscaling", i, 9) for i in range(1, 10)]
    assert all(e.total_steps == 0 and e.preview is not None and e.preview.ndim == 3 for e in events)
    assert progress_text(events[2]) == "Image 1/1 · upscaling tile 3/9"


def test_refining_counts_steps_over_all_tiles(engine, tiny_request):
    events: list[ProgressEvent] = []
    engine.run(upscale_request(engine, tiny_request, "2", REFINED), on_progress=events.append)
    refining = [e for e in events if e.phase == "refining"]
    assert [e.phase for e in events] == ["upscaling"] * 2 + ["refining"] * len(refining)
    tiles = refining[0].tiles
    assert tiles == 2 and [e.tile for e in refining] == sorted(e.tile for e in refining)
    assert {e.tile for e in refining} == set(range(1, tiles + 1))
    steps = [e.step for e in refining]
    assert steps == list(range(1, len(refining) + 1)), "steps count on across tiles, never back to 1"
    assert {e.total_steps for e in refining} == {len(refining)}
    last = refining[-1]
    assert progress_text(last) == f"Image 1/1 · refining tile {tiles}/{tiles} · step {last.step}/{last.step}"


def test_stop_during_the_upscale_model_ends_within_one_tile(engine, tiny_request, counted):
    control = JobControl()
    stopped_at = {}

    def on_progress(event: ProgressEvent) -> None:
        if event.tile == 2 and not control.stopped:
            stopped_at.update(tiles=counted["model_tiles"])
            control.stop()

    result = engine.run(upscale_request(engine, tiny_request, "2"), on_progress=on_progress, control=control)
    assert result.stopped and result.images == ()
    assert counted["model_tiles"] - stopped_at["tiles"] <= 1, "at most the tile in hand runs after Stop"
    assert counted["decodes"] == 0


def test_stop_during_refining_ends_within_one_tile(engine, tiny_request, counted):
    control = JobControl()
    after_stop: list[ProgressEvent] = []

    def on_progress(event: ProgressEvent) -> None:
        if control.stopped:
            after_stop.append(event)
        elif event.phase == "refining" and event.tile == 2:
            control.stop()

    result = engine.run(upscale_request(engine, tiny_request, "2", REFINED), on_progress=on_progress, control=control)
    assert result.stopped and result.images == ()
    assert after_stop == [], "the tile's remaining steps and every later tile are dropped"
    assert counted["decodes"] == 1, "only the tile finished before Stop was decoded"


def test_skip_during_an_upscale_drops_that_image_only(engine, tiny_request):
    control = JobControl()

    def on_progress(event: ProgressEvent) -> None:
        if event.image_index == 0 and event.tile == 2:
            control.skip()

    request = upscale_request(engine, tiny_request, "fast2", image_count=2)
    result = engine.run(request, on_progress=on_progress, control=control)
    assert not result.stopped and result.skipped == (0,)
    assert len(result.images) == 1 and result.images[0].image.size == (128, 128)


def test_stop_acts_between_the_tiles_of_a_tiled_vae_decode(tiny_services):
    """A tiled decode (low-memory plans, very large pictures) checks the job before each tile's decoder pass."""
    import torch

    from studio.decode import decode_latents
    from studio.sampling_plan import Interrupted

    pipeline = tiny_services.manager.pipeline
    channels = pipeline.vae.config.latent_channels
    latents = torch.randn(1, channels, 160, 160, generator=torch.Generator().manual_seed(0))  # 4x4 tiles
    decoded: list[int] = []
    control = JobControl()

    def check() -> None:
        if len(decoded) == 2:
            control.stop()
        if control.interrupted:
            raise Interrupted

    counter = pipeline.vae.decoder.register_forward_hook(lambda *_: decoded.append(1))
    try:
        with pytest.raises(Interrupted):
            decode_latents(pipeline, latents, tiling_pixels=0, check=check)
    finally:
        counter.remove()
    assert len(decoded) == 2, "no tile is decoded after Stop"
    assert not pipeline.vae.use_tiling and not pipeline.vae.decoder._forward_pre_hooks  # all as it was
    assert decode_latents(pipeline, latents[..., :16, :16])[0].size == (32, 32)
