"""Issue 15B's settings, each one's cost per image beside the neutral request's, in one run:
`python -m benchmarks.model_files [--runs N] [--steps N] [--size PX] [--json PATH]`.

On the tiny random model (CPU): the neutral request, then the same request with a scheduler, a chosen VAE,
an embedding in the prompt and a refiner taking over at 0.8, measured alternately (one of each per round, so
a busy machine slows all alike), medians and their ratio to the neutral one. The first use of a VAE, an
embedding and a refiner (reading the file) is timed apart: later images find them resident.
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

from benchmarks.common import format_table, machine_info

VARIANTS = {
    "neutral": {},
    "scheduler karras": {"scheduler": "karras"},
    "vae (chosen)": {"vae": "bench-vae"},
    "embedding in prompt": {"prompt": "a red cube on a table, (embedding:bench-emb:1.1)"},
    "refiner at 0.8": {"refiner": "bench-refiner", "refiner_switch": 0.8},
}


def measure(runs: int, steps: int, size: int) -> dict:
    from studio.services import build_services
    from studio.settings import Settings
    from studio.tiny import save_tiny_sdxl
    from studio.tiny.vae_embedding import save_tiny_embedding, save_tiny_vae
    from studio.types import GenerationRequest

    root = Path(tempfile.mkdtemp(prefix="bench-15b-"))
    save_tiny_vae(root / "models" / "vae" / "bench-vae.safetensors")
    save_tiny_embedding(root / "models" / "embeddings" / "bench-emb.safetensors")
    save_tiny_sdxl(root / "models" / "checkpoints" / "bench-refiner", seed=1)
    services = build_services(Settings(model="tiny", models_dir=root / "models", output_dir=root / "out", device="cpu"))
    base = GenerationRequest(prompt="a red cube on a table", seed=7, width=size, height=size, steps=steps,
                             cfg_scale=5.0, sampler="Euler")  # fmt: skip
    requests = {name: replace(base, **changes) for name, changes in VARIANTS.items()}
    first = {}
    for name, request in requests.items():  # first use: files read, tokens added, refiner placed
        started = time.perf_counter()
        services.engine.run(request)
        first[name] = time.perf_counter() - started
    seconds: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(runs):
        for name, request in requests.items():
            started = time.perf_counter()
            services.engine.run(request)
            seconds[name].append(time.perf_counter() - started)
    neutral = statistics.median(seconds["neutral"])
    rows = [
        {
            "setting": name,
            "first_s": first[name],
            "median_s": statistics.median(values),
            "ratio": statistics.median(values) / neutral,
        }
        for name, values in seconds.items()
    ]
    return {"machine": machine_info(), "runs": runs, "steps": steps, "size": size, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model_files", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    results = measure(args.runs, args.steps, args.size)
    columns = (("setting", "setting", ""), ("first_s", "first use s", ".3f"), ("median_s", "median s", ".3f"),
               ("ratio", "x neutral", ".2f"))  # fmt: skip
    print(f"tiny model, {args.steps} steps at {args.size}x{args.size}, {args.runs} alternating rounds")
    print(format_table(results["rows"], columns))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
