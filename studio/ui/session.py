"""What one browser session owns: its running job's control and its results. Kept in `gr.State`."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.jobs import JobControl
from studio.types import ImageRecord


@dataclass
class Session:
    control: JobControl | None = None  # the job in progress, for Stop and Skip; None when idle
    results: list[ImageRecord] = field(default_factory=list)  # this session's saved images, newest first

    def begin_job(self) -> JobControl:
        self.control = JobControl()
        return self.control

    def end_job(self, control: JobControl) -> None:
        if self.control is control:
            self.control = None

    def add_results(self, records: list[ImageRecord]) -> None:
        self.results[:0] = records
