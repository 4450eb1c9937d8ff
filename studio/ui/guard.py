"""Every UI handler runs guarded: whatever goes wrong becomes one readable warning on the page, and the
updates that end an event (buttons back, "Comparing…" replaced) always reach the page.

Nothing a handler raises may reach gradio. An exception there marks each of the event's outputs with a red
"Error" badge, shows the raw exception text, prints a traceback, and skips the `.then` steps chained after
it, which is how buttons stayed locked. So a guarded handler catches, warns (`gr.Warning`, titled by what the
user did) and returns `gr.skip()`; a guarded stream yields its closing updates itself, error or not.
A user's mistake is logged as one line; a bug with its traceback (`studio.user_errors`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from studio.ui.i18n import request_locale, say
from studio.ui.messages import user_message
from studio.user_errors import log_failure

log = logging.getLogger(__name__)
Updates = dict[Any, Any]


def warn(action: str, message: str) -> None:
    """A warning toast titled by what the user did ("Generate", "Load parameters", ...), in the page's language
    (`message` is translated where the catalogue has it; a message already translated stays as it is)."""
    gr.Warning(say(message), title=say(action))


def report(action: str, error: BaseException) -> None:
    """Log `error` (one line, or a traceback for a bug) and show it as one readable sentence."""
    log_failure(log, f"{action} failed", error)
    warn(action, user_message(error, action, request_locale()))


def guarded(action: str, handler: Callable[..., Any], fallback: Callable[[], Any] = gr.skip) -> Callable[..., Any]:
    """`handler` (returning its outputs) that never raises: on an error it warns and returns `fallback()`,
    by default `gr.skip()`, which leaves every output as it is, however many there are."""

    @functools.wraps(handler)  # gradio reads the signature (inputs by name, gr.SelectData) through this
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - turned into a warning; bugs keep their traceback in the log
            report(action, error)
            return fallback()

    return run


def guarded_stream(
    action: str,
    handler: Callable[..., Iterator[Any]],
    begin: Callable[[], Updates] | None = None,
    end: Callable[[BaseException | None], Updates | None] | None = None,
) -> Callable[..., Iterator[Any]]:
    """A generator handler that never raises: yields `begin()` first, then the handler's updates, and last
    `end(error)` (error None when it went well), also after an error, which is warned about. If the page
    goes away (the generator is closed) nothing more is yielded."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        if begin is not None:
            yield begin()
        failure = None
        try:
            yield from handler(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - as in `guarded`
            failure = error
            report(action, error)
        closing = end(failure) if end is not None else None
        if closing:
            yield closing

    return run
