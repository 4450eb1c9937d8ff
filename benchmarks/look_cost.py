"""Cost per denoising step of each sampling-loop setting of the Fooocus look (15A), against neutral settings.

    python -m benchmarks.look_cost [--runs 7] [--steps 12] [--size 64] [--json out.json]

One loaded tiny pipeline, one request; the variants run round-robin (neutral, sharpness, ADM, adaptive CFG,
FreeU, CLIP skip, all of the Fooocus preset's), so machine load hits them alike. A step's time is read from the
engine's own step events (last minus first step end, over the steps between), which leaves out prompt
encoding and decoding. CLIP skip acts in the prompt encoding only, so its per-step row should read 1.00.
`python -m benchmarks` runs this as its `look` part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS = {
    "neutral": {},
    "sharpness 2": {"sharpness": 2.0},
    "ADM 1.5/0.8 to 0.3": {"adm_scale_positive": 1.5, "adm_scale_negative": 0.8, "adm_scale_end": 0.3},
    "adaptive CFG 7 (CFG 9)": {"adaptive_cfg": 7.0},
    "FreeU 1.3/1.4/0.9/0.2": {"freeu_b1": 1.3, "freeu_b2": 1.4, "freeu_s1": 0.9, "freeu_s2": 0.2},
    "CLIP skip 1": {"clip_skip": 1},
    "Fooocus preset look": {
        "sharpness": 2.0,
        "adm_scale_positive": 1.5,
        "adm_scale_negative": 0.8,
        "adm_scale_end": 0.3,
        "adaptive_cfg": 7.0,
    },
}


def measure_look_cost(services, runs: int = 7, steps: int = 12, size: int = 64) -> dict:
    """Median seconds per step of each variant and its ratio to neutral."""
    from studio.types import GenerationRequest

    base = GenerationRequest(prompt="a lighthouse on a cliff at dusk, oil painting", negative_prompt="blurry",
                             seed=1234, width=size, height=size, steps=steps, cfg_scale=9.0, sampler="Euler",
                             model="tiny")  # fmt: skip
    timings: dict[str, list[float]] = {name: [] for name in VARIANTS}

    def step_seconds(request) -> float:
        ends: list[float] = []
        services.engine.run(request, on_progress=lambda event: ends.append(time.perf_counter()))
        return (ends[-1] - ends[0]) / (len(ends) - 1)

    for name, change in VARIANTS.items():  # warm-up: first-call costs out of the figures
        step_seconds(replace(base, steps=2, **change))
    for _ in range(runs):
        for name, change in VARIANTS.items():
            timings[name].append(step_seconds(replace(base, **change)))
    neutral = statistics.median(timings["neutral"])
    rows = [
        {"variant": name, "ms_per_step": statistics.median(values) * 1000, "ratio": statistics.median(values) / neutral}
        for name, values in timings.items()
    ]
    return {"runs": runs, "steps": steps, "size": size, "cfg_scale": base.cfg_scale, "rows": rows}


def look_table(result: dict) -> str:
    from benchmarks.common import format_table

    title = (f"Fooocus look, per denoising step ({result['size']}x{result['size']}, {result['steps']} steps, "
             f"CFG {result['cfg_scale']:g}, median of {result['runs']} round-robin runs)")  # fmt: skip
    columns = (("variant", "variant", ""), ("ms_per_step", "ms/step", ".2f"), ("ratio", "x neutral", ".3f"))
    return title + "\n" + format_table(result["rows"], columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.look_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from benchmarks.overhead import tiny_services

    with tempfile.TemporaryDirectory() as folder:
        result = measure_look_cost(tiny_services(Path(folder)), args.runs, args.steps, args.size)
    print(look_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
