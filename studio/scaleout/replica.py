"""One engine replica of the Ray Serve deployment: a resident Engine, built once from the studio's
settings, that makes one job at a time and streams its events back (see wire.py). Saving is the front's."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

# Progress (with its preview) is sent at most this often per job, plus each image's last step: what a
# person can see, without a message per step of a fast model costing the front its CPU.
PROGRESS_INTERVAL_S = 0.1


class EngineReplica:
    """Made a Serve deployment by the runner; `settings` are the front's (same model, paths, device)."""

    def __init__(self, settings, threads: int) -> None:
        import torch

        # Fixed threads: N replicas on N cores do not oversubscribe them, and results do not depend on
        # how many cores the host happens to have.
        torch.set_num_threads(threads)
        from studio.services import build_services

        self.services = build_services(settings)
        self.engine = self.services.engine

    def where(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": socket.gethostname()}

    def run(self, job_id: str, request: dict[str, Any], signals, inputs: dict[str, bytes]) -> Iterator[dict[str, Any]]:
        """Make the request's images; yields `started`, then `progress` and `image` events as they come,
        then `finished`, or `failed` with the error as text (the replica goes on with the next job).
        `inputs` are the request's input images (hash -> stored PNG bytes), kept here if this host lacks them."""
        from studio.scaleout.signals import RemoteControl
        from studio.scaleout.wire import failure_message, image_message, progress_to_wire
        from studio.types import GenerationRequest

        yield {"kind": "started", "replica": self.where()}
        # The engine calls back from inside its loop and a generator cannot yield from a callback, so the
        # engine runs in a thread of its own and hands its events over through a queue.
        handover: queue.Queue = queue.Queue()
        done = object()
        last_sent = [0.0]
        abandoned = threading.Event()

        def on_progress(event) -> None:
            now = time.monotonic()
            if now - last_sent[0] >= PROGRESS_INTERVAL_S or event.step == event.total_steps:
                last_sent[0] = now
                handover.put(progress_to_wire(event))

        def work() -> None:
            try:
                for digest, data in inputs.items():
                    self.engine.inputs.put_stored(digest, data)
                result = self.engine.run(
                    GenerationRequest.from_dict(request),
                    on_progress=on_progress,
                    control=RemoteControl(signals, job_id, abandoned),
                    on_image=lambda index, generated: handover.put(image_message(index, generated)),
                )
                handover.put({"kind": "finished", "stopped": result.stopped, "skipped": list(result.skipped)})
            except Exception as error:  # any failure ends this job only; the replica serves on
                log.error("job %s failed on this replica", job_id, exc_info=error)
                handover.put(failure_message(error))
            handover.put(done)

        worker = threading.Thread(target=work, name=f"job-{job_id}", daemon=True)
        worker.start()
        try:
            while (event := handover.get()) is not done:
                yield event
        finally:  # the front went away mid-job (its process ended): stop, and take no job before this one ends
            abandoned.set()
            worker.join()
