"""Follow one job of the shared queue and hand its state to a front end as it changes.

No gradio here: `follow_job` is a plain generator (queue positions, progress events, `Saved` each time an
image is saved, then one `Finished` with every saved image's record) that a UI handler turns into widget
updates. Progress is coalesced: a slow reader sees the newest state, never a backlog. If the reader goes
away (the generator is closed), the job is cancelled, so a closed page never keeps the GPU busy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from studio.jobqueue import Job, JobQueue, JobState
from studio.types import GenerationRequest, ImageRecord, ProgressEvent
from studio.ui.i18n import request_locale, say
from studio.ui.messages import readable_text

PREVIEW_SIDE = 320  # pixels: the latent preview is shown scaled up to about this size
POSITION_REFRESH_S = 1.0  # a waiting job's position is re-read at least this often


@dataclass(frozen=True)
class Queued:
    position: int  # 1 = next to run


@dataclass(frozen=True)
class Saved:
    records: tuple[ImageRecord, ...]  # every image the running job has saved so far, in order


@dataclass(frozen=True)
class Finished:
    request: GenerationRequest
    records: tuple[ImageRecord, ...]
    state: JobState
    skipped: tuple[int, ...] = ()
    error: str | None = None


def follow_job(jobs: JobQueue, job: Job) -> Iterator[Queued | ProgressEvent | Saved | Finished]:
    """Yield `Queued(position)` while `job` waits, `ProgressEvent`s while it runs and `Saved` whenever it has
    saved another image, then one `Finished`."""
    seen = -1
    last: object = None
    saved = 0
    try:
        while True:
            seen = jobs.wait(job, seen, timeout=POSITION_REFRESH_S)
            if job.state.finished:
                yield Finished(job.request, tuple(job.records), job.state, tuple(job.skipped), job.error)
                return
            records = tuple(job.records)  # the worker appends to it; a tuple is a consistent snapshot
            if len(records) > saved:
                saved = len(records)
                yield Saved(records)
            if job.state is JobState.QUEUED:
                item: object = Queued(jobs.position(job))
            else:
                item = job.progress
            # progress events hold arrays: compare them by identity
            changed = item != last if isinstance(item, Queued) else item is not last
            if item is not None and changed:
                last = item
                yield item
    finally:
        if not job.state.finished:
            jobs.cancel(job.id, job.owner)  # the reader left (page closed, event cancelled)


def scaled_preview(preview: np.ndarray | None, side: int = PREVIEW_SIDE) -> np.ndarray | None:
    """The small latent preview enlarged with whole-pixel blocks (no blur) to about `side` pixels."""
    if preview is None:
        return None
    factor = max(1, side // max(preview.shape[0], preview.shape[1]))
    return np.repeat(np.repeat(preview, factor, axis=0), factor, axis=1)


def progress_text(event: ProgressEvent) -> str:
    text = f"Image {event.image_index + 1}/{event.image_count}"
    if event.tiles:
        text += f" · {event.phase} tile {event.tile}/{event.tiles}"
    if event.total_steps:  # a phase without denoising (the upscale model's tiles) has no steps
        text += f" · step {event.step}/{event.total_steps}"
    return say(text)


def queued_text(queued: Queued) -> str:
    if queued.position <= 1:
        return say("Waiting: next in the queue…")
    return say(f"Waiting in the queue: position {queued.position} ({queued.position - 1} job(s) ahead)")


def summary_text(finished: Finished) -> str:
    count = finished.request.image_count
    state = {JobState.DONE: "Done", JobState.CANCELLED: "Stopped", JobState.FAILED: "Failed"}[finished.state]
    text = f"{state}: {len(finished.records)} of {count} image{'s' if count != 1 else ''} saved"
    if finished.skipped:
        text += f", {len(finished.skipped)} skipped"
    text = say(f"{text} · {seeds_text(finished.request)}")
    if finished.error:
        text += f" · {readable_text(finished.error, request_locale())}"
    return text


def seeds_text(request: GenerationRequest) -> str:
    """The job's seeds in full (gallery captions are too narrow for a 19-digit seed): image i uses seed + i."""
    if request.image_count == 1:
        return f"seed {request.seed}"
    if request.disable_seed_increment:
        return f"seed {request.seed} for each image"
    return f"seeds {request.seed} to {request.image_seed(request.image_count - 1)}"
