"""Per-job control shared between a front end and the engine: Stop ends the job, Skip ends one image."""

from __future__ import annotations

import threading


class JobControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._skip = threading.Event()

    def stop(self) -> None:
        """End the job after the current step; images already finished are kept."""
        self._stop.set()

    def skip(self) -> None:
        """Drop the image being made and go on with the next one."""
        self._skip.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def interrupted(self) -> bool:
        """Whether the image in progress should end now."""
        return self._stop.is_set() or self._skip.is_set()

    def begin_image(self) -> None:
        self._skip.clear()
