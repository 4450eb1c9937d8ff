"""Run one request on the engine in a worker thread and hand its progress to a front end as it comes.

No gradio here: `run_streaming` is a plain generator (progress events, then the saved result) that a UI
handler turns into widget updates. Progress is coalesced: a slow reader sees the newest step, never a
backlog. If the reader goes away (the generator is closed), the job is stopped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.jobs import JobControl
from studio.types import GenerationRequest, GenerationResult, ImageRecord, ProgressEvent

if TYPE_CHECKING:
    from studio.services import Services

PREVIEW_SIDE = 320  # pixels: the latent preview is shown scaled up to about this size


@dataclass(frozen=True)
class Finished:
    result: GenerationResult
    records: tuple[ImageRecord, ...]


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def run_streaming(
    services: Services, request: GenerationRequest, control: JobControl
) -> Iterator[ProgressEvent | Finished]:
    """Yield `ProgressEvent`s while `request` runs, then one `Finished` with the saved images' records.
    Errors of the engine are raised here, in the reader's thread."""
    updates: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            updates.put(services.engine.run(request, on_progress=updates.put, control=control))
        except Exception as error:  # noqa: BLE001 - handed to the reader, who raises it
            updates.put(_Failed(error))

    worker = threading.Thread(target=work, name="studio-generate", daemon=True)
    worker.start()
    try:
        while True:
            item = _newest(updates)
            if isinstance(item, ProgressEvent):
                yield item
                continue
            if isinstance(item, _Failed):
                raise item.error
            records = tuple(services.store.save(generated.image, generated.request) for generated in item.images)
            yield Finished(item, records)
            return
    finally:
        if worker.is_alive():
            control.stop()  # the reader left (page closed, event cancelled): end the job, keep the engine free


def _newest(updates: queue.Queue):
    """Block for one item, then skip stale progress events queued behind it; never skip the result."""
    item = updates.get()
    while isinstance(item, ProgressEvent):
        try:
            item = updates.get_nowait()
        except queue.Empty:
            break
    return item


def scaled_preview(preview: np.ndarray | None, side: int = PREVIEW_SIDE) -> np.ndarray | None:
    """The small latent preview enlarged with whole-pixel blocks (no blur) to about `side` pixels."""
    if preview is None:
        return None
    factor = max(1, side // max(preview.shape[0], preview.shape[1]))
    return np.repeat(np.repeat(preview, factor, axis=0), factor, axis=1)


def progress_text(event: ProgressEvent) -> str:
    return f"Image {event.image_index + 1}/{event.image_count} · step {event.step}/{event.total_steps}"


def summary_text(finished: Finished) -> str:
    result = finished.result
    count = result.request.image_count
    state = "Stopped" if result.stopped else "Done"
    text = f"{state}: {len(finished.records)} of {count} image{'s' if count != 1 else ''} saved"
    if result.skipped:
        text += f", {len(result.skipped)} skipped"
    return text + f" · seed {result.request.seed}"
