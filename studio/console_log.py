"""What the studio tells its console: its own progress (model loaded, memory plan, warm-up, downloads) at INFO,
libraries at WARNING, minus one known false alarm. Configured once by `app.py` and the command line."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class EmptyFp32ModulesWarning(logging.Filter):
    """diffusers (0.42) warns "There are modules in X that should be kept in float32: []" on every `to(dtype=)`,
    so on every `from_pipe`, even when the list is empty; only the empty-list form is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "should be kept in float32: []" not in message


class CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is now (a captured or replaced stream), never to a closed old one."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_console_logging(level: int = logging.INFO) -> None:
    """Studio messages at `level` on stderr, with a time stamp; idempotent."""
    studio = logging.getLogger("studio")
    if not any(getattr(handler, "studio_console", False) for handler in studio.handlers):
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
        handler.studio_console = True
        studio.addHandler(handler)
        studio.propagate = False
    studio.setLevel(level)
    noisy = logging.getLogger("diffusers.models.modeling_utils")
    if not any(isinstance(existing, EmptyFp32ModulesWarning) for existing in noisy.filters):
        noisy.addFilter(EmptyFp32ModulesWarning())
