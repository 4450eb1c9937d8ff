"""Run work in a worker thread and follow it from a UI handler; the sampler comparison's inputs and table.

No gradio here. `follow_in_thread` runs a function that reports through a callback, yields its reports
(progress coalesced: a slow reader sees the newest step, never a backlog, but every finished cell) and
then one `Outcome`. If the reader goes away, `on_abandon` is called (the comparison's Stop), so a closed
page never keeps the GPU busy. The engine's lock serialises the work with the job queue's jobs.
"""

from __future__ import annotations

import queue
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from studio.compare import ComparisonRequest, ComparisonResult, metrics_rows, validate_comparison
from studio.types import GenerationRequest, InvalidRequest, ProgressEvent

TABLE_HEADERS = ("sampler", "steps", "seconds", "pixel_mad_to_final", "ssim_to_final", "verdict")
_DONE = object()


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None


def follow_in_thread(
    work: Callable[[Callable[[Any], None]], Any], on_abandon: Callable[[], None] | None = None, name: str = "ui-worker"
) -> Iterator[Any]:
    """Run `work(report)` in a thread; yield what it reports, then `Outcome(value or error)`."""
    reports: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(reports.put)
        except Exception as error:  # noqa: BLE001 - handed to the reader, who shows it
            outcome["error"] = error
        finally:
            reports.put(_DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    done = False
    try:
        while not done:
            batch = [reports.get()]
            while True:
                try:
                    batch.append(reports.get_nowait())
                except queue.Empty:
                    break
            done = batch[-1] is _DONE
            items = [item for item in batch if item is not _DONE]
            latest_progress = next((i for i in reversed(items) if isinstance(i, ProgressEvent)), None)
            for item in items:
                if not isinstance(item, ProgressEvent) or item is latest_progress:
                    yield item
    finally:
        if not done and on_abandon is not None:
            on_abandon()
    yield Outcome(outcome.get("value"), outcome.get("error"))


def parse_step_counts(text: str) -> tuple[int, ...]:
    parts = [part for part in re.split(r"[,\s]+", text or "") if part]
    if not parts or not all(re.fullmatch(r"\d+", part) for part in parts):
        raise InvalidRequest("step_counts", f"'{text}' is not a comma-separated list of whole numbers, e.g. 10,20,40")
    return tuple(int(part) for part in parts)


def comparison_request(
    base: GenerationRequest, samplers: list[str] | None, steps_text: str, size_limit
) -> ComparisonRequest:
    """The validated comparison of `base` (the main settings) over these samplers and step counts."""
    request = ComparisonRequest(replace(base, image_count=1), tuple(samplers or ()), parse_step_counts(steps_text))
    return validate_comparison(request, size_limit)


def comparison_folder(output_dir: Path | str, seed: int, when: datetime | None = None) -> Path:
    """A new `<output dir>/comparisons/<date>_<time>_<seed>_<random>/`, beside the outputs and out of History's
    way; created here, never reused, so two comparisons with one seed in one second never share a folder."""
    when = when or datetime.now()
    folder = Path(output_dir) / "comparisons" / f"{when:%Y-%m-%d_%H-%M-%S}_{seed}_{secrets.token_hex(4)}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def verdict(convergent: bool | None) -> str:
    if convergent is None:
        return "needs 3+ step counts to tell"
    return "converges" if convergent else "does not converge"


def table_rows(result: ComparisonResult) -> list[list[Any]]:
    return [[*(row[name] for name in TABLE_HEADERS[:-1]), verdict(row["convergent"])] for row in metrics_rows(result)]


def verdict_lines(result: ComparisonResult) -> str:
    lines = [f"- **{m.sampler}**: {verdict(m.convergent)}" for m in result.convergence]
    return "\n".join(lines) or "Too few cells finished to measure convergence."
