"""What one browser session owns: its owner id in the job queue, its running job and its results; and
`Owners`, whom a UI event acts for.

Kept in `gr.State` (gradio gives each browser session its own copy), never in module globals, so two
sessions can never see or stop each other's jobs or results.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from studio.types import ImageRecord

if TYPE_CHECKING:
    from studio.jobqueue import Job
    from studio.jobs import JobControl


class NotLoggedIn(PermissionError):
    """Logins are on but the event carries no known login (the server restarted since): log in again."""


@dataclass
class Session:
    owner: str = ""  # this session's owner id in the job queue: drawn on first use, or the logged-in user's
    job: Job | None = None  # the session's job in the queue or running, for Stop and Skip; None when idle
    results: list[ImageRecord] = field(default_factory=list)  # this session's saved images, newest first
    comparison: JobControl | None = None  # the running sampler comparison's control, for its Stop button
    shown: list[str] = field(default_factory=list)  # the paths the gallery shows, in its order (server-side)
    selected: str | None = None  # the gallery image the user selected last ("Use as input", Vary, Upscale)

    def owner_id(self) -> str:
        if not self.owner:
            self.owner = "ui:" + secrets.token_urlsafe(12)
        return self.owner

    def begin_job(self, job: Job) -> None:
        self.job = job

    def end_job(self, job: Job) -> None:
        if self.job is job:
            self.job = None

    def add_results(self, records: list[ImageRecord], after: ImageRecord | None = None) -> None:
        """Put `records` first among the results, or right after `after` (a running job's earlier image), so
        a job's images keep their order whether they arrive one by one or together."""
        at = self.results.index(after) + 1 if after is not None and after in self.results else 0
        self.results[at:at] = records

    def show(self, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Remember what the gallery is given (so a selection is looked up here, never taken from the
        browser) and return it for the gallery."""
        self.shown = [path for path, _caption in items]
        return items

    def select(self, index: int) -> str | None:
        self.selected = self.shown[index] if 0 <= index < len(self.shown) else None
        return self.selected


@dataclass(frozen=True)
class Owners:
    """Whom a UI event acts for. With logins on (`of_login`: a logged-in name -> its owner id, see
    `studio.auth.UiLogins`) that is the logged-in user, the same owner as their API calls, so UI and API
    share one space of images and one History; the session still keeps its own job (Stop and Skip act on
    it alone) and its own results. With logins off each browser session is its own owner and every image
    is in the one shared outputs folder."""

    of_login: Callable[[str], str | None] | None = None

    def bind(self, session: Session, request) -> str:
        """The owner the event of `request` (a `gr.Request`) acts for, remembered in `session`."""
        if self.of_login is None:
            return session.owner_id()
        name = getattr(request, "username", None)
        owner = self.of_login(name) if name else None
        if owner is None:
            raise NotLoggedIn("this page's login is no longer known (the studio restarted?): reload and log in")
        session.owner = owner
        return owner
