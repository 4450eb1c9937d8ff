"""Which failures are the user's to fix, and how each kind is logged.

A user's mistake (a bad value, a model or file that cannot be had, a full queue) is expected: it is logged as
one line at WARNING and its message is what the user reads. Anything else is a bug: logged with its traceback.
No gradio here, and nothing heavy at import: the error classes are imported when a failure is looked at.
"""

from __future__ import annotations

import logging


def user_error_types() -> tuple[type[BaseException], ...]:
    from studio.control.annotators import AnnotatorUnavailable
    from studio.expansion.protocol import ExpansionError
    from studio.jobqueue import QueueFull
    from studio.models import ModelUnavailable, UnsafeCheckpoint
    from studio.presets import PresetError
    from studio.styles import StyleError
    from studio.types import InvalidRequest

    return (
        InvalidRequest, QueueFull, ModelUnavailable, UnsafeCheckpoint, ExpansionError, AnnotatorUnavailable,
        PresetError, StyleError,
    )  # fmt: skip


def is_user_error(error: BaseException) -> bool:
    return isinstance(error, user_error_types())


def log_failure(logger: logging.Logger, what: str, error: BaseException) -> None:
    """`what` failed because of `error`: one line for a user's mistake, the traceback for a bug."""
    if is_user_error(error):
        logger.warning("%s: %s", what, error)
    else:
        logger.error("%s", what, exc_info=error)
