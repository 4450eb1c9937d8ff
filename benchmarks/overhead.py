"""Engine overhead: the same tiny pipeline and settings, bare diffusers vs the studio engine, alternating.

    python -m benchmarks.overhead [--runs 15] [--steps 20] [--size 64] [--json out.json]

Both sides share one loaded pipeline, one scheduler kind and one seed; the engine side also computes the live
latent preview every step, as the UI asks it to. Both must give identical pixels, or the comparison is void.
`python -m benchmarks` runs this as part of the whole suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class VoidComparison(RuntimeError):
    """The two sides did not make the same pixels, so timing them against each other means nothing."""


def tiny_services(folder: Path):
    """A studio on the tiny random model, on the CPU, built through the real loading code."""
    from studio.services import build_services
    from studio.settings import Settings

    return build_services(
        Settings(model="tiny", models_dir=Path(folder), output_dir=Path(folder) / "out", device="cpu")
    )


def measure_overhead(services, runs: int = 15, steps: int = 20, size: int = 64) -> dict:
    """Median seconds per image of a bare diffusers call and of the engine, alternating, and their ratio."""
    import numpy as np
    import torch
    from diffusers import EulerDiscreteScheduler

    from studio.types import GenerationRequest

    pipeline = services.manager.pipeline
    request = GenerationRequest(prompt="a lighthouse on a cliff at dusk, oil painting", negative_prompt="blurry",
                                seed=1234, width=size, height=size, steps=steps, cfg_scale=5.0,
                                sampler="Euler", model="tiny")  # fmt: skip

    def bare():
        pipeline.scheduler = EulerDiscreteScheduler.from_config(services.manager.base_scheduler_config)
        return pipeline(prompt=request.prompt, negative_prompt=request.negative_prompt, width=request.width,
                        height=request.height, num_inference_steps=request.steps, guidance_scale=request.cfg_scale,
                        generator=torch.Generator("cpu").manual_seed(request.seed)).images[0]  # fmt: skip

    def studio():
        return services.engine.run(request, on_progress=lambda event: None).images[0].image

    if not np.array_equal(np.asarray(bare()), np.asarray(studio())):
        raise VoidComparison("bare diffusers and the engine gave different pixels; the comparison would be void")
    timings = {"bare": [], "studio": []}
    for _ in range(runs):
        for name, call in (("bare", bare), ("studio", studio)):
            start = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - start)
    bare_median, studio_median = statistics.median(timings["bare"]), statistics.median(timings["studio"])
    return {
        "benchmark": "engine_overhead",
        "model": "tiny (random weights)",
        "device": "cpu",
        "size": size,
        "steps": steps,
        "runs": runs,
        "identical_pixels": True,
        "bare_median_s": round(bare_median, 4),
        "studio_median_s": round(studio_median, 4),
        "ratio": round(studio_median / bare_median, 3),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        try:
            result = measure_overhead(tiny_services(Path(folder)), args.runs, args.steps, args.size)
        except VoidComparison as error:
            raise SystemExit(str(error)) from None
    print(f"bare diffusers  median {result['bare_median_s'] * 1000:8.1f} ms")
    print(f"studio engine   median {result['studio_median_s'] * 1000:8.1f} ms")
    print(
        f"ratio studio/bare      {result['ratio']:.3f}  ({args.runs} alternating runs, {args.steps} steps, {args.size}x{args.size})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
