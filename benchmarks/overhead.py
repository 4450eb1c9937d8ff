"""Engine overhead: the same tiny pipeline and settings, bare diffusers vs the studio engine, alternating.

    python -m benchmarks.overhead [--runs 15] [--steps 20] [--size 64] [--json out.json]

Both sides share one loaded pipeline, one scheduler kind and one seed; the engine side also computes the live
latent preview every step, as the UI asks it to. Both must give identical pixels, or the comparison is void.
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from diffusers import EulerDiscreteScheduler

    from studio.services import build_services
    from studio.settings import Settings
    from studio.types import GenerationRequest

    with tempfile.TemporaryDirectory() as folder:
        services = build_services(Settings(model="tiny", models_dir=Path(folder), output_dir=Path(folder) / "out", device="cpu"))
    pipeline = services.manager.pipeline
    request = GenerationRequest(prompt="a lighthouse on a cliff at dusk, oil painting", negative_prompt="blurry",
                                seed=1234, width=args.size, height=args.size, steps=args.steps, cfg_scale=5.0,
                                sampler="Euler", model="tiny")  # fmt: skip

    def bare():
        pipeline.scheduler = EulerDiscreteScheduler.from_config(services.manager.base_scheduler_config)
        return pipeline(prompt=request.prompt, negative_prompt=request.negative_prompt, width=request.width,
                        height=request.height, num_inference_steps=request.steps, guidance_scale=request.cfg_scale,
                        generator=torch.Generator("cpu").manual_seed(request.seed)).images[0]  # fmt: skip

    def studio():
        return services.engine.run(request, on_progress=lambda event: None).images[0].image

    if not np.array_equal(np.asarray(bare()), np.asarray(studio())):
        raise SystemExit("bare diffusers and the engine gave different pixels; the comparison would be void")
    timings = {"bare": [], "studio": []}
    for _ in range(args.runs):
        for name, call in (("bare", bare), ("studio", studio)):
            start = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - start)
    bare_median, studio_median = statistics.median(timings["bare"]), statistics.median(timings["studio"])
    result = {
        "benchmark": "engine_overhead",
        "model": "tiny (random weights)",
        "device": "cpu",
        "size": args.size,
        "steps": args.steps,
        "runs": args.runs,
        "bare_median_s": round(bare_median, 4),
        "studio_median_s": round(studio_median, 4),
        "ratio": round(studio_median / bare_median, 3),
        "torch_threads": torch.get_num_threads(),
    }
    print(f"bare diffusers  median {bare_median * 1000:8.1f} ms")
    print(f"studio engine   median {studio_median * 1000:8.1f} ms")
    print(f"ratio studio/bare      {result['ratio']:.3f}  ({args.runs} alternating runs, {args.steps} steps, {args.size}x{args.size})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
