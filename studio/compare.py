"""Seed-locked sampler x steps comparison and its convergence measures.

Every cell is the request a normal generation would run (`ComparisonRequest.cell_request`), made through
`Engine.run_many`, so a cell is byte for byte the image `Engine.run` gives for the same settings, and it is
saved with its own metadata, so any cell loads back and re-makes itself. Prompt embeddings are computed once
for the whole grid.

Convergence is judged from the data: for each sampler the distance from each step count's image to the
largest step count's image is fitted as `floor + slope * (1/steps - 1/largest)`. A sampler that converges
has its distance fall towards zero as steps grow (floor ~ 0); one that injects fresh noise per step keeps a
floor that more steps never remove. On pixel mean absolute difference (0..1), a sampler converges when its
floor is below `MAX_RELATIVE_FLOOR` of its distance at the smallest step count, or below one 8-bit level
(`PIXEL_FLOOR_TOLERANCE`: differences a PNG can hardly hold, where rounding dominates the measure).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.jobs import JobControl
from studio.performance import PERFORMANCE_MODES
from studio.schedulers import DEFAULT_SAMPLER, SAMPLER_NAMES
from studio.types import GenerationRequest, InvalidRequest, Limit, ProgressEvent, limit_of, validate_request

# The step-progression filmstrip's default step counts.
DEFAULT_PROGRESSION_STEPS: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 45, 85, 100)
# A sampler converges when the distance more steps cannot remove is below this share of its first distance,
MAX_RELATIVE_FLOOR = 0.1
# or below one 8-bit level on average (near it, rounding to 8 bits is most of the measured distance).
PIXEL_FLOOR_TOLERANCE = 1 / 255


@dataclass(frozen=True)
class ComparisonRequest:
    """One prompt and settings (`base`), one seed; rows are samplers, columns step counts."""

    base: GenerationRequest
    samplers: tuple[str, ...] = field(
        default=(DEFAULT_SAMPLER,), metadata={"limit": Limit(1, 8), "help": "samplers to compare (rows)"}
    )
    step_counts: tuple[int, ...] = field(
        default=DEFAULT_PROGRESSION_STEPS, metadata={"limit": Limit(1, 12), "help": "step counts to compare (columns)"}
    )

    def cell_request(self, sampler: str, steps: int) -> GenerationRequest:
        """Exactly the request a normal one-image generation with these settings runs."""
        return replace(self.base, sampler=sampler, steps=steps, image_count=1)

    def cells(self) -> tuple[tuple[str, int], ...]:
        """(sampler, steps) of every cell, row by row."""
        return tuple((sampler, steps) for sampler in self.samplers for steps in self.step_counts)


def comparison_limit(name: str) -> Limit:
    """How many samplers / step counts a comparison may hold, for widgets and help."""
    return next(f.metadata["limit"] for f in fields(ComparisonRequest) if f.name == name)


def validate_comparison(request: ComparisonRequest, size_limit: Limit | None) -> ComparisonRequest:
    """Check the lists and every cell's request; step counts come back sorted ascending."""
    for name in ("samplers", "step_counts"):
        values = getattr(request, name)
        limit = comparison_limit(name)
        if not isinstance(values, tuple) or not limit.low <= len(values) <= limit.high:
            count = len(values) if isinstance(values, (tuple, list)) else 0
            raise InvalidRequest(name, f"has {count} values; give {limit.low:g} to {limit.high:g}")
        if len(set(values)) != len(values):
            raise InvalidRequest(name, "lists a value twice")
    for sampler in request.samplers:
        if sampler not in SAMPLER_NAMES:
            raise InvalidRequest("samplers", f"'{sampler}' is unknown; choose from: {', '.join(SAMPLER_NAMES)}")
    steps_limit = limit_of("steps")
    for steps in request.step_counts:
        if not isinstance(steps, int) or isinstance(steps, bool) or not steps_limit.low <= steps <= steps_limit.high:
            raise InvalidRequest(
                "step_counts", f"{steps!r} is not a step count from {steps_limit.low:g} to {steps_limit.high:g}"
            )
    mode = PERFORMANCE_MODES.get(request.base.performance)
    if mode is not None and mode.forced:
        raise InvalidRequest(
            "performance", f"'{mode.name}' forces its own steps and sampler; compare with Quality or Speed"
        )
    request = replace(
        request, base=replace(request.base, image_count=1), step_counts=tuple(sorted(request.step_counts))
    )
    validate_request(request.cell_request(request.samplers[0], request.step_counts[0]), size_limit)
    return request


@dataclass(frozen=True)
class Cell:
    sampler: str
    steps: int
    request: GenerationRequest  # re-makes this cell alone with a normal generation
    image: Any  # PIL.Image.Image
    latents: np.ndarray  # final latents (float32), for the latent-space distance
    seconds: float  # sampling + decoding
    path: str | None = None  # where the cell was saved, when a store was given


@dataclass(frozen=True)
class CellDone:
    """Reported after each finished cell."""

    cell: Cell
    index: int  # position in ComparisonRequest.cells()
    count: int


@dataclass(frozen=True)
class SamplerConvergence:
    """Distances of one sampler's row; each list runs over `steps` (to_previous starts with None)."""

    sampler: str
    steps: tuple[int, ...]
    pixel_mad_to_final: tuple[float, ...]
    ssim_to_final: tuple[float, ...]
    latent_mad_to_final: tuple[float, ...]
    pixel_mad_to_previous: tuple[float | None, ...]
    ssim_to_previous: tuple[float | None, ...]
    latent_mad_to_previous: tuple[float | None, ...]
    floor: float | None  # pixel distance more steps would not remove (fit), None with < 3 step counts
    relative_floor: float | None
    convergent: bool | None  # None: too few step counts to tell

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ComparisonResult:
    request: ComparisonRequest
    cells: tuple[Cell, ...]  # finished cells, in ComparisonRequest.cells() order
    convergence: tuple[SamplerConvergence, ...]
    stopped: bool = False

    def cell(self, sampler: str, steps: int) -> Cell | None:
        return next((c for c in self.cells if c.sampler == sampler and c.steps == steps), None)

    def convergence_of(self, sampler: str) -> SamplerConvergence | None:
        return next((c for c in self.convergence if c.sampler == sampler), None)


def run_comparison(
    engine,
    request: ComparisonRequest,
    store=None,
    on_cell: Callable[[CellDone], None] | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    control: JobControl | None = None,
) -> ComparisonResult:
    """Make every cell (saving each to `store` as it finishes), then measure convergence.

    `on_progress` gets step events whose image_index/image_count are the cell index/count; Stop on
    `control` ends the grid after the current step, keeping (and having saved) the finished cells.
    """
    request = validate_comparison(request, engine.manager.info_for(request.base.model).size_limit)
    positions = request.cells()
    cells: list[Cell] = []

    def finished(position: int, run) -> None:
        sampler, steps = positions[position]
        path = store.save(run.generated.image, run.generated.request).path if store is not None else None
        cell = Cell(sampler, steps, run.generated.request, run.generated.image, run.latents.numpy(), run.seconds, path)
        cells.append(cell)
        if on_cell is not None:
            on_cell(CellDone(cell, position, len(positions)))

    control = control or JobControl()
    engine.run_many(
        [request.cell_request(s, n) for s, n in positions], on_image=finished, on_progress=on_progress, control=control
    )
    convergence = tuple(
        measure_convergence(sampler, [c for c in cells if c.sampler == sampler]) for sampler in request.samplers
    )
    return ComparisonResult(
        request, tuple(cells), tuple(c for c in convergence if c is not None), stopped=control.stopped
    )


# --- distances -------------------------------------------------------------------------------------------


def to_unit(image) -> np.ndarray:
    """A PIL image as float64 RGB on 0..1."""
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def _gaussian_blur(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of an (H, W, C) array along H and W."""
    view = np.lib.stride_tricks.sliding_window_view(x, len(window), axis=0)
    x = view @ window
    view = np.lib.stride_tricks.sliding_window_view(x, len(window), axis=1)
    return view @ window


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5, size: int = 11) -> float:
    """Mean structural similarity of two (H, W, 3) images on 0..1 (Wang et al. 2004: Gaussian window of
    sigma 1.5, K1 = 0.01, K2 = 0.03), computed per channel and averaged; 1.0 means identical."""
    size = min(size, a.shape[0], a.shape[1])
    offsets = np.arange(size) - (size - 1) / 2
    window = np.exp(-(offsets**2) / (2 * sigma**2))
    window /= window.sum()
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gaussian_blur(a, window), _gaussian_blur(b, window)
    var_a = _gaussian_blur(a * a, window) - mu_a**2
    var_b = _gaussian_blur(b * b, window) - mu_b**2
    cov = _gaussian_blur(a * b, window) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(index.mean())


def fit_floor(steps: tuple[int, ...], distances: tuple[float, ...]) -> float | None:
    """Least-squares `distance ~ floor + slope * (1/steps - 1/largest)` over the step counts below the largest:
    the distance that stays however many steps are added. None with fewer than two such step counts."""
    if len(steps) < 3:
        return None
    x = np.array([1 / n - 1 / steps[-1] for n in steps[:-1]])
    _slope, floor = np.polyfit(x, np.array(distances[:-1]), 1)
    return max(0.0, float(floor))  # a distance is never negative; higher-order samplers fit below zero


def measure_convergence(sampler: str, cells: list[Cell]) -> SamplerConvergence | None:
    """Distances of a sampler's finished cells to its largest step count and to neighbours; None if < 2."""
    cells = sorted(cells, key=lambda c: c.steps)
    if len(cells) < 2:
        return None
    pixels = [to_unit(c.image) for c in cells]
    final_pixels, final_latents = pixels[-1], cells[-1].latents
    to_final = (
        tuple(mean_abs_diff(p, final_pixels) for p in pixels),
        tuple(ssim(p, final_pixels) for p in pixels),
        tuple(mean_abs_diff(c.latents, final_latents) for c in cells),
    )
    to_previous = (
        (None, *(mean_abs_diff(pixels[i], pixels[i - 1]) for i in range(1, len(cells)))),
        (None, *(ssim(pixels[i], pixels[i - 1]) for i in range(1, len(cells)))),
        (None, *(mean_abs_diff(cells[i].latents, cells[i - 1].latents) for i in range(1, len(cells)))),
    )
    steps = tuple(c.steps for c in cells)
    floor = fit_floor(steps, to_final[0])
    relative = None
    convergent = None
    if floor is not None:
        first = to_final[0][0]
        relative = floor / first if first > 0 else 0.0
        convergent = bool(relative < MAX_RELATIVE_FLOOR or floor < PIXEL_FLOOR_TOLERANCE)
    return SamplerConvergence(sampler, steps, *to_final, *to_previous, floor, relative, convergent)


# --- files -------------------------------------------------------------------------------------------------


def metrics_dict(result: ComparisonResult) -> dict[str, Any]:
    request = result.request
    return {
        "base": request.base.to_dict(),
        "samplers": list(request.samplers),
        "step_counts": list(request.step_counts),
        "stopped": result.stopped,
        "rule": f"convergent when floor < {MAX_RELATIVE_FLOOR} x the distance at the smallest step count or "
        f"floor < {PIXEL_FLOOR_TOLERANCE:.5f} (pixel mean absolute difference on 0..1 to the largest step count, "
        "fitted as floor + slope * (1/steps - 1/largest))",
        "cells": [
            {"sampler": c.sampler, "steps": c.steps, "seconds": round(c.seconds, 4), "path": c.path}
            for c in result.cells
        ],
        "convergence": [c.to_dict() for c in result.convergence],
    }


CSV_COLUMNS = (
    "sampler", "steps", "seconds", "pixel_mad_to_final", "ssim_to_final", "latent_mad_to_final",
    "pixel_mad_to_previous", "ssim_to_previous", "latent_mad_to_previous", "convergent", "path",
)  # fmt: skip


def metrics_rows(result: ComparisonResult) -> list[dict[str, Any]]:
    """One row per finished cell: the table the UI shows and the CSV holds."""
    rows = []
    for measured in result.convergence:
        for i, steps in enumerate(measured.steps):
            cell = result.cell(measured.sampler, steps)
            row = {"sampler": measured.sampler, "steps": steps, "seconds": round(cell.seconds, 4), "path": cell.path}
            for name in CSV_COLUMNS[3:9]:
                value = getattr(measured, name)[i]
                row[name] = None if value is None else round(value, 6)
            row["convergent"] = measured.convergent
            rows.append(row)
    return rows


def metrics_csv(result: ComparisonResult) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in metrics_rows(result):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_comparison(result: ComparisonResult, folder: Path | str) -> dict[str, str]:
    """Write grid.png, chart.png, filmstrip-<sampler>.png, metrics.json and metrics.csv, each atomically (a
    reader never sees half a file); returns their paths."""
    from studio.compare_render import render_chart, render_filmstrip, render_grid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "grid": folder / "grid.png",
        "chart": folder / "chart.png",
        "metrics": folder / "metrics.json",
        "csv": folder / "metrics.csv",
    }
    _write_atomically(paths["grid"], lambda file: render_grid(result).save(file, format="PNG"))
    _write_atomically(paths["chart"], lambda file: render_chart(result).save(file, format="PNG"))
    for sampler in result.request.samplers:
        paths[f"filmstrip:{sampler}"] = folder / f"filmstrip-{slug(sampler)}.png"
        strip = render_filmstrip(result, sampler)
        _write_atomically(paths[f"filmstrip:{sampler}"], lambda file, strip=strip: strip.save(file, format="PNG"))
    metrics = json.dumps(metrics_dict(result), indent=2).encode("utf-8")
    _write_atomically(paths["metrics"], lambda file: file.write(metrics))
    _write_atomically(paths["csv"], lambda file: file.write(metrics_csv(result).encode("utf-8")))
    return {name: str(path) for name, path in paths.items()}


def _write_atomically(path: Path, write: Callable[[Any], None]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".saving-")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
