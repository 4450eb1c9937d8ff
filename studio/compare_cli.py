"""`python -m studio compare`: a seed-locked sampler x steps grid with convergence measures, written to a folder.

Writes each cell as a studio PNG (its metadata re-makes it), grid.png, chart.png, one filmstrip per sampler,
metrics.json and metrics.csv, and prints one JSON summary line. Bad input exits 2 naming the field.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from studio.compare import DEFAULT_PROGRESSION_STEPS, ComparisonRequest, comparison_limit, validate_comparison
from studio.types import GenerationRequest, InvalidRequest, random_seed


def add_arguments(compare: argparse.ArgumentParser) -> None:
    from studio.cli import limit_help

    samplers, step_counts = comparison_limit("samplers"), comparison_limit("step_counts")
    compare.add_argument("--prompt", default="", help="what to draw")
    compare.add_argument("--negative", default="", help="negative prompt")
    compare.add_argument("--samplers", default=GenerationRequest.sampler,
                         help=f"comma-separated sampler names (rows), at most {samplers.high:g}")  # fmt: skip
    compare.add_argument("--steps", default=",".join(map(str, DEFAULT_PROGRESSION_STEPS)),
                         help=f"comma-separated step counts (columns), at most {step_counts.high:g}")  # fmt: skip
    compare.add_argument("--seed", type=int, help=f"{limit_help('seed')}; random when left out")
    compare.add_argument("--size", help="WxH; the model's square size when left out")
    compare.add_argument("--cfg", type=float, default=GenerationRequest.cfg_scale, help=limit_help("cfg_scale"))
    compare.add_argument("--out", type=Path, required=True, help="folder for the grid, cells and metrics")


def parse_samplers(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise InvalidRequest("samplers", "give at least one sampler name")
    return names


def parse_step_counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidRequest(
            "step_counts", f"'{text}' is not a comma-separated list of whole numbers, e.g. 10,20,40"
        ) from None


def run(args: argparse.Namespace) -> int:
    from studio.cli import parse_size, print_progress, services_for
    from studio.compare import run_comparison, write_comparison
    from studio.outputs import OutputStore

    size = parse_size(args.size) if args.size else None
    base = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        seed=random_seed() if args.seed is None else args.seed,
        width=size[0] if size else 0,
        height=size[1] if size else 0,
        cfg_scale=args.cfg,
    )
    request = ComparisonRequest(base, parse_samplers(args.samplers), parse_step_counts(args.steps))
    validate_comparison(request, size_limit=None)  # fail fast, before a model is loaded
    services = services_for(args, output_dir=args.out)
    width, height = size or services.manager.info.default_size
    request = replace(request, base=replace(base, width=width, height=height, model=services.manager.info.name))
    result = run_comparison(services.engine, request, store=OutputStore(args.out), on_progress=print_progress)
    paths = write_comparison(result, args.out)
    summary = {
        "grid": paths["grid"],
        "chart": paths["chart"],
        "metrics": paths["metrics"],
        "csv": paths["csv"],
        "cells": [cell.path for cell in result.cells],
        "stopped": result.stopped,
        "convergent": {m.sampler: m.convergent for m in result.convergence},
    }
    print(json.dumps(summary), flush=True)
    return 0
