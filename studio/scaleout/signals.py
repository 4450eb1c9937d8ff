"""Stop and Skip across processes: the front records them by job id in one small Ray actor (JobSignals) and
the replica making that job reads them through a RemoteControl, which behaves like a local JobControl.

Skip is a counter, not a flag: the replica remembers how many skips it has seen when it begins an image, so
a Skip ends the image in progress only (as `JobControl.begin_image` clears a local Skip).
"""

from __future__ import annotations

import threading
import time


class JobSignals:
    """Made a Ray actor by the runner (`ray.remote(JobSignals)`); state per job id, forgotten when done."""

    def __init__(self) -> None:
        self._stopped: set[str] = set()
        self._skips: dict[str, int] = {}

    def stop(self, job_id: str) -> None:
        self._stopped.add(job_id)

    def skip(self, job_id: str) -> None:
        self._skips[job_id] = self._skips.get(job_id, 0) + 1

    def state(self, job_id: str) -> tuple[bool, int]:
        return job_id in self._stopped, self._skips.get(job_id, 0)

    def forget(self, job_id: str) -> None:
        self._stopped.discard(job_id)
        self._skips.pop(job_id, None)


class RemoteControl:
    """The replica's JobControl for one job, read from the JobSignals actor. The engine asks after every
    step; the answer is cached for `refresh_s` so a fast model does not wait on the actor at each step."""

    def __init__(self, signals, job_id: str, abandoned: threading.Event | None = None, refresh_s: float = 0.05) -> None:
        self._signals = signals
        self._job_id = job_id
        self._abandoned = abandoned or threading.Event()  # set when no one reads the job's events any more
        self._refresh_s = refresh_s
        self._read_at = -1.0
        self._stopped = False
        self._skips = 0
        self._skips_seen = 0

    def _read(self, fresh: bool = False) -> None:
        now = time.monotonic()
        if fresh or now - self._read_at >= self._refresh_s:
            import ray

            self._stopped, self._skips = ray.get(self._signals.state.remote(self._job_id))
            self._read_at = now

    @property
    def stopped(self) -> bool:
        self._read()
        return self._stopped or self._abandoned.is_set()

    @property
    def interrupted(self) -> bool:
        return self.stopped or self._skips > self._skips_seen

    def begin_image(self) -> None:
        self._read(fresh=True)
        self._skips_seen = self._skips
