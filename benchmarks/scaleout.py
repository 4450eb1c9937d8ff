"""Scale-out throughput: jobs/s of the studio's job queue on 1 vs 2 Ray Serve replicas of the tiny model.

    python -m benchmarks.scaleout [--jobs 8] [--rounds 3] [--steps 20] [--size 64] [--json out.json]

One local Ray cluster holds both deployments at once (one of 1 replica, one of 2; each replica 1 torch
thread and 1 Ray CPU), so the two are measured side by side in one run, alternating round by round: a load
change on a shared machine hits both alike. Each round submits `--jobs` one-image jobs to a queue with one
worker per replica and times them from the first submit to the last image saved, by the front's
OutputStore as in the studio. Every job must finish done, or the figures are void. The ratio is of the
median jobs/s; 2 replicas on 2 free cores should approach 2x.
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


class JobsFailed(RuntimeError):
    """A benchmark job did not finish done: its timing would mean nothing."""


def timed_round(engine, workers: int, folder: Path, request, jobs: int) -> float:
    """Seconds from the first submit to the last of `jobs` jobs done, on a fresh queue of `workers`."""
    from studio.jobqueue import JobQueue, JobState
    from studio.outputs import OutputStore

    queue = JobQueue(engine, OutputStore(folder), max_queued=jobs, per_owner=jobs, workers=workers).start()
    try:
        started = time.perf_counter()
        submitted = [queue.submit(replace(request, seed=request.seed + number), "bench") for number in range(jobs)]
        for job in submitted:
            if not queue.wait_finished(job, 600) or job.state is not JobState.DONE:
                raise JobsFailed(f"job {job.id} ended {job.state.value}: {job.error}")
        return time.perf_counter() - started
    finally:
        queue.close()


def measure_scaleout(folder: Path, jobs: int = 8, rounds: int = 3, steps: int = 20, size: int = 64) -> dict:
    import ray
    from ray import serve

    from benchmarks.overhead import tiny_services
    from studio.scaleout.options import RaySettings
    from studio.scaleout.runner import RayEngine
    from studio.types import GenerationRequest

    load_before = os.getloadavg()[0]
    services = tiny_services(folder)
    request = GenerationRequest(prompt="a lighthouse on a cliff at dusk", seed=1000, width=size, height=size,
                                steps=steps, cfg_scale=5.0, sampler="Euler")  # fmt: skip
    counts = (1, 2)
    try:
        engines = {
            count: RayEngine.start(services, RaySettings(replicas=count), num_cpus=sum(counts), app_name=f"bench-{count}")
            for count in counts
        }
        for count, engine in engines.items():  # every replica has made an image before the clock runs
            timed_round(engine, count, folder / "warm-up", request, 2 * count)
        seconds: dict[int, list[float]] = {count: [] for count in counts}
        for number in range(rounds):
            for count, engine in engines.items():
                seconds[count].append(timed_round(engine, count, folder / f"round-{number}-{count}", request, jobs))
    finally:
        serve.shutdown()
        ray.shutdown()
    rates = {count: [jobs / s for s in seconds[count]] for count in counts}
    medians = {count: statistics.median(rates[count]) for count in counts}
    return {
        "jobs": jobs,
        "rounds": rounds,
        "steps": steps,
        "size": size,
        "cpus": os.cpu_count(),
        "load_before": round(load_before, 2),
        "jobs_per_s": {str(count): [round(rate, 3) for rate in rates[count]] for count in counts},
        "median_jobs_per_s": {str(count): round(medians[count], 3) for count in counts},
        "round_ratios": [round(two / one, 3) for one, two in zip(rates[1], rates[2])],
        "ratio": round(medians[2] / medians[1], 3),
    }


def scaleout_table(result: dict) -> str:
    from benchmarks.common import format_table

    setup = f"{result['jobs']} jobs x {result['rounds']} alternating rounds, {result['steps']} steps, {result['size']}px"
    rows = []
    for count in ("1", "2"):
        rounds = ", ".join(f"{rate:.2f}" for rate in result["jobs_per_s"][count])
        rows.append({"what": f"{count} replica(s), median", "value": f"{result['median_jobs_per_s'][count]:.2f} jobs/s",
                     "note": f"rounds: {rounds}"})  # fmt: skip
    rows.append({"what": "ratio 2/1", "value": f"{result['ratio']:.2f}x",
                 "note": "rounds: " + ", ".join(f"{ratio:.2f}" for ratio in result["round_ratios"])})  # fmt: skip
    table = format_table(rows, (("what", "Ray Serve (tiny model)", ""), ("value", "value", ""), ("note", "", "")))
    return f"{table}\n{setup}; {result['cpus']} CPUs, load average {result['load_before']} at the start"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaleout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--jobs", type=int, default=8, help="jobs per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of 1 and 2 replicas")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        result = measure_scaleout(Path(folder), args.jobs, args.rounds, args.steps, args.size)
    print(scaleout_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
