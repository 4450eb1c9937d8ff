"""The studio's benchmark suite: `python -m benchmarks [--quick] [--json PATH]`.

CPU (every machine, tiny random model):
  - engine overhead: the studio engine vs a bare diffusers call, same pipeline and settings, alternating;
  - mode switches: txt2img -> img2img -> inpaint -> ControlNet -> txt2img, seconds and resident memory;
  - start-up: `python app.py --model tiny` to the first finished image;
  - the Fooocus look: each sampling-loop setting's cost per step against neutral (benchmarks/look_cost.py);
  - scale-out: jobs/s on 1 vs 2 Ray Serve replicas, side by side (benchmarks/scaleout.py).
GPU (when CUDA is present): full-size SDXL, bare diffusers fp16 + SDPA vs the studio's fast path
(see benchmarks/gpu.py); `--gpu-dry-run` runs that code on the CPU with tiny models where there is no GPU. Prints tables and writes everything as JSON (default benchmarks/results.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from benchmarks.common import format_table, machine_info
from studio.console_log import configure_console_logging

PARTS = ("overhead", "switch", "startup", "gpu", "look", "scaleout")
OVERHEAD_LIMIT = 1.05  # the studio may cost at most 5 % over bare diffusers

GPU_COLUMNS = (
    ("scenario", "scenario", ""),
    ("path", "path", ""),
    ("s_per_image", "s/image", ".3f"),
    ("it_per_s", "it/s", ".2f"),
    ("peak_vram_gib", "peak GiB", ".2f"),
    ("x_flop_bound", "x FLOP bound", ".2f"),
    ("speedup", "speedup", ".2f"),
    ("images_ok", "ok", ""),
)


def cpu_table(results: dict) -> str:
    rows = []
    if "overhead" in results:
        o = results["overhead"]
        setup = f"{o['runs']} alternating runs, {o['steps']} steps, {o['size']}x{o['size']}, identical pixels"
        rows.append({"what": "bare diffusers (median)", "value": f"{o['bare_median_s'] * 1000:.1f} ms", "note": setup})
        rows.append(
            {
                "what": "studio engine (median)",
                "value": f"{o['studio_median_s'] * 1000:.1f} ms",
                "note": "with live preview",
            }
        )
        verdict = "ok" if o["ratio"] <= OVERHEAD_LIMIT else f"over the {OVERHEAD_LIMIT} limit"
        rows.append({"what": "ratio studio/bare", "value": f"{o['ratio']:.3f}", "note": verdict})
    if "switch" in results:
        s = results["switch"]
        rows.append(
            {
                "what": "mode switch, first cycle",
                "value": f"{s['first_cycle_mean_s'] * 1000:.2f} ms",
                "note": s["order"],
            }
        )
        rows.append(
            {
                "what": "mode switch, cached",
                "value": f"{s['cached_mean_s'] * 1000:.3f} ms",
                "note": f"same UNet object: {s['same_unet']}",
            }
        )
        rows.append({"what": "RSS before -> after", "value": f"{s['rss_before_mib']:.0f} -> {s['rss_after_mib']:.0f} MiB",
                     "note": f"{s['cycles']} cycles, growth {s['rss_growth_mib']:+.1f} MiB"})  # fmt: skip
    if "startup" in results:
        u = results["startup"]
        rows.append(
            {
                "what": "app start -> serving",
                "value": f"{u['serving_s']:.1f} s",
                "note": f"probe {u['ready_probe']}, fresh models folder",
            }
        )
        rows.append(
            {
                "what": "app start -> first image",
                "value": f"{u['first_image_s']:.1f} s",
                "note": f"via {u['route']}, {u['image']}",
            }
        )
    return format_table(rows, (("what", "CPU (tiny model)", ""), ("value", "value", ""), ("note", "", "")))


def gpu_table(gpu: dict) -> str:
    if not gpu.get("available"):
        return gpu.get("message", "GPU: not run")
    matmul = f"{gpu['matmul_dtype']} matmul {gpu['matmul_tflops']} TFLOP/s"
    lines = [f"GPU: {gpu['gpu']}, {gpu['size']}, {matmul}, fast path: {', '.join(gpu['fast_path'])}"]
    lines.append(format_table(gpu["rows"], GPU_COLUMNS))
    ablation = gpu.get("ablation")
    if ablation:
        lines.append("\nfast-path switches, each left out (speed-up against the fast path off):")
        lines.append(ablation if isinstance(ablation, str) else format_table(ablation, GPU_COLUMNS))
    if gpu.get("memory_modes"):
        lines.append("\nmemory plans (--vram), peak = everything the plan keeps on the GPU:")
        lines.append(format_table(gpu["memory_modes"], GPU_COLUMNS[:6]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and steps (still >= 10 alternating runs)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"), help="where to write the results")
    parser.add_argument("--skip", action="append", choices=PARTS, default=[], help="leave a part out (repeatable)")
    parser.add_argument(
        "--gpu-compile", default="max-autotune-no-cudagraphs", help="torch.compile mode for the GPU rows, or 'none'"
    )
    parser.add_argument("--gpu-dry-run", action="store_true",
                        help="where there is no GPU, run the GPU comparison on the CPU with tiny models (checks its code; "
                        "its figures say nothing about speed)")  # fmt: skip
    args = parser.parse_args(argv)
    configure_console_logging(logging.WARNING)  # the tables only, minus a known library false alarm

    results: dict = {
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(),
        "cpu": {},
    }
    failures = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        services = None
        if "overhead" not in args.skip or "switch" not in args.skip or "look" not in args.skip:
            from benchmarks.overhead import tiny_services

            services = tiny_services(Path(folder))
        if "overhead" not in args.skip:
            from benchmarks.overhead import VoidComparison, measure_overhead

            runs, steps = (10, 10) if args.quick else (15, 20)
            try:
                results["cpu"]["overhead"] = measure_overhead(services, runs=runs, steps=steps, size=64)
            except VoidComparison as error:
                failures.append(f"overhead: {error}")
        if "switch" not in args.skip:
            from benchmarks.switching import WeightsReloaded, measure_mode_switches, tiny_controlnet

            try:
                results["cpu"]["switch"] = measure_mode_switches(
                    services.manager, tiny_controlnet(services.manager.pipeline.unet), cycles=3
                )
            except WeightsReloaded as error:
                failures.append(f"mode switch: {error}")
        if "look" not in args.skip:  # 15A: each Fooocus-look setting's cost per step, against neutral
            from benchmarks.look_cost import measure_look_cost

            runs, steps = (3, 6) if args.quick else (7, 12)
            results["cpu"]["look"] = measure_look_cost(services, runs=runs, steps=steps, size=64)
        if "startup" not in args.skip:
            from benchmarks.startup import StartupFailed, measure_startup

            try:
                results["cpu"]["startup"] = measure_startup()
            except StartupFailed as error:
                failures.append(f"startup: {error}")
    print(
        f"torch {results['machine']['torch']}, {results['machine']['torch_threads']} threads, {results['machine']['cpu']}"
    )
    print(cpu_table(results["cpu"]))
    print()
    if "look" in results["cpu"]:
        from benchmarks.look_cost import look_table

        print(look_table(results["cpu"]["look"]) + "\n")
    if "scaleout" not in args.skip:  # 17: 1 vs 2 Ray Serve replicas, side by side (benchmarks/scaleout.py)
        from benchmarks.scaleout import JobsFailed, measure_scaleout, scaleout_table

        try:
            with tempfile.TemporaryDirectory() as folder:
                jobs, rounds = (6, 2) if args.quick else (8, 3)
                results["cpu"]["scaleout"] = measure_scaleout(Path(folder), jobs=jobs, rounds=rounds)
            print(scaleout_table(results["cpu"]["scaleout"]) + "\n")
        except JobsFailed as error:
            failures.append(f"scaleout: {error}")
    if "gpu" not in args.skip:
        import torch

        from benchmarks.gpu import DRY_RIG, run_gpu

        compile_mode = None if args.gpu_compile.lower() == "none" else args.gpu_compile
        dry_run = args.gpu_dry_run and not torch.cuda.is_available()
        rig = DRY_RIG if dry_run else None
        results["gpu"] = run_gpu(quick=args.quick, compile_mode=None if dry_run else compile_mode, rig=rig)
        print(gpu_table(results["gpu"]))
    results["failures"] = failures
    results["total_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nresults written to {args.json}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    overhead = results["cpu"].get("overhead")
    return 1 if failures or (overhead and overhead["ratio"] > OVERHEAD_LIMIT) else 0


if __name__ == "__main__":
    sys.exit(main())
