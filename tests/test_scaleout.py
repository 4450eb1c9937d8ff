"""Scale-out on Ray Serve (studio.scaleout): jobs of the one queue made on 2 CPU replicas of the tiny model.

One local Ray cluster (2 CPUs, no dashboard, this host only) and one 2-replica deployment serve the module;
the test that kills a replica runs last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.jobqueue import JobQueue, JobState
from studio.jobs import JobControl
from studio.outputs import OutputStore
from studio.scaleout.options import RaySettings
from studio.settings import SettingsError
from studio.types import GenerationRequest

ROOT = Path(__file__).resolve().parents[1]
REQUEST = GenerationRequest(prompt="a red cube on a table", seed=7, width=64, height=64, steps=2, cfg_scale=5.0, sampler="Euler")
SLOW = replace(REQUEST, steps=30)  # long enough (about a second per image) to act on mid-image
TIMEOUT = 120


@pytest.fixture(scope="module")
def ray_engine(tiny_services, tmp_path_factory):
    import ray

    from studio.scaleout.runner import RayEngine

    # The replicas' own output folder, so their inputs folder is not the front's, as on another host.
    apart = replace(tiny_services.settings, output_dir=tmp_path_factory.mktemp("replica-outputs"))
    engine = RayEngine.start(tiny_services, RaySettings(replicas=2), num_cpus=2, replica_settings=apart)
    try:
        yield engine
    finally:
        ray.shutdown()  # the whole local cluster, replicas and Serve's controller with it


@contextmanager
def queue(engine, folder: Path, workers: int):
    jobs = JobQueue(engine, OutputStore(folder), workers=workers).start()
    try:
        yield jobs
    finally:
        jobs.close()


@contextmanager
def torch_threads(count: int):
    """In-process runs with the replicas' thread count, so both sum in the same order."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def wait_until(jobs, job, condition, timeout: float = TIMEOUT) -> None:
    """Wait on the queue's own change notifications (no sleeps) until `condition(job)` holds."""
    deadline = time.monotonic() + timeout
    version = job.version
    while not condition(job):
        assert time.monotonic() < deadline, f"timed out; job {job.state.value}, progress {job.progress}, error {job.error}"
        version = jobs.wait(job, version, deadline - time.monotonic())
        if job.state.finished and not condition(job):
            pytest.fail(f"job finished ({job.state.value}, {job.error}) before the condition held")


def finished(jobs, job):
    assert jobs.wait_finished(job, TIMEOUT), f"job still {job.state.value} after {TIMEOUT} s"
    return job


def test_without_ray_option_nothing_imports_ray():
    code = (
        "import sys, app, studio.server, studio.services, studio.jobqueue\n"
        "settings = app.parse_settings(['--model', 'tiny'])\n"
        "assert settings.ray is None\n"
        "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr


def test_ray_options_are_checked_against_their_limits():
    import app

    assert app.parse_settings(["--ray", "--replicas", "2"]).ray == RaySettings(replicas=2)
    remote = app.parse_settings(["--ray", "ray://head:10001", "--replicas", "3", "--replica-threads", "4"]).ray
    assert (remote.address, remote.replicas, remote.replica_threads, remote.local) == ("ray://head:10001", 3, 4, False)
    with pytest.raises(SettingsError, match=r"--replicas is 0; it must be between 1 and 64"):
        app.parse_settings(["--ray", "--replicas", "0"])
    with pytest.raises(SettingsError, match="need --ray"):
        app.parse_settings(["--replicas", "2"])


def test_a_replica_lost_twice_fails_the_job_with_a_readable_message(tiny_services, tmp_path):
    """No cluster needed: a handle whose replica dies at once, every time."""
    import ray

    from studio.scaleout.runner import RayEngine

    calls = []

    def dying_stream(job_id, request, signals, inputs):
        calls.append(request["seed"])
        yield {"kind": "started", "replica": {"pid": 1, "node": "gone"}}
        raise ray.exceptions.ActorDiedError()

    handle = SimpleNamespace(options=lambda **_: SimpleNamespace(run=SimpleNamespace(remote=dying_stream)))
    ignored = SimpleNamespace(remote=lambda job_id: None)
    engine = RayEngine(tiny_services.engine, handle, SimpleNamespace(forget=ignored, stop=ignored, skip=ignored), replicas=1)
    with queue(engine, tmp_path, 1) as jobs:
        job = finished(jobs, jobs.submit(replace(REQUEST, image_count=2), "alice"))
        assert job.state is JobState.FAILED and calls == [7, 7]  # tried, then retried once
        assert "stopped, and so did the one that retried it; 0 of 2 image(s) were saved" in job.error
        again = finished(jobs, jobs.submit(REQUEST, "alice"))  # the worker serves on
        assert again.state is JobState.FAILED and calls == [7, 7, 7, 7]
    stopped = JobControl()
    stopped.stop()  # a job stopped by its owner is not retried when its replica dies
    assert engine.run(REQUEST, control=stopped).stopped and calls == [7, 7, 7, 7, 7]


def test_same_request_gives_byte_identical_pngs_in_process_and_on_a_replica(ray_engine, tiny_services, tmp_path):
    request = replace(REQUEST, image_count=2)
    with torch_threads(1), queue(tiny_services.engine, tmp_path / "local", 1) as local_jobs:
        local = finished(local_jobs, local_jobs.submit(request, "alice"))
    with queue(ray_engine, tmp_path / "ray", 2) as ray_jobs:
        remote = finished(ray_jobs, ray_jobs.submit(request, "alice"))
    assert local.state is remote.state is JobState.DONE
    assert [record.seed for record in remote.records] == [7, 8]
    local_png = [Path(record.path).read_bytes() for record in local.records]
    remote_png = [Path(record.path).read_bytes() for record in remote.records]
    assert local_png == remote_png
    assert local_png[0] != local_png[1]


def test_a_job_carries_its_input_images_to_a_replica_without_the_fronts_inputs_folder(ray_engine, tiny_services, tmp_path):
    import numpy as np
    from PIL import Image

    from studio.types import EditSpec

    picture = Image.fromarray(np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    digest = tiny_services.engine.inputs.put(picture)
    request = replace(REQUEST, steps=4, edit=EditSpec(kind="vary", image=digest))
    with queue(ray_engine, tmp_path, 2) as jobs:
        job = finished(jobs, jobs.submit(request, "alice"))
    assert job.state is JobState.DONE, job.error
    with torch_threads(1):
        alone = tiny_services.engine.run(request).images[0]
    assert Image.open(job.records[0].path).tobytes() == alone.image.tobytes()
    assert job.records[0].request.edit.image == digest


def test_replicas_ask_for_a_gpu_only_where_they_are_to_use_cuda(ray_engine):
    import torch

    from studio.scaleout.runner import replica_gpus

    assert (replica_gpus("cpu"), replica_gpus("cuda")) == (0, 1)
    assert replica_gpus("auto") == int(torch.cuda.is_available())  # the local cluster has this machine's GPUs


def test_two_jobs_run_at_once_on_two_replicas_while_the_third_waits_its_turn(ray_engine, tmp_path):
    with queue(ray_engine, tmp_path, 2) as jobs:
        first, second, third = (jobs.submit(replace(SLOW, seed=seed), "alice") for seed in (1, 2, 3))
        for job in (first, second):
            wait_until(jobs, job, lambda job: job.progress is not None)
        busy = ray_engine.busy_replicas()
        assert len(busy) == 2 and busy[0]["pid"] != busy[1]["pid"]
        assert third.state is JobState.QUEUED and jobs.position(third) == 1
        assert jobs.counts() == {"queued": 1, "running": 2}
        for job in (first, second, third):
            assert finished(jobs, job).state is JobState.DONE and len(job.records) == 1
        assert 0 < first.progress.step == first.progress.total_steps == 30


def test_skip_and_stop_reach_the_job_on_its_replica(ray_engine, tmp_path):
    with queue(ray_engine, tmp_path, 2) as jobs:
        job = jobs.submit(replace(SLOW, image_count=3), "alice")
        wait_until(jobs, job, lambda job: job.progress is not None)
        with pytest.raises(KeyError):
            jobs.skip(job.id, "mallory")  # another owner's job is not found, and not touched
        jobs.skip(job.id, "alice")
        wait_until(jobs, job, lambda job: job.progress.image_index == 1)
        jobs.cancel(job.id, "alice")
        finished(jobs, job)
    assert job.state is JobState.CANCELLED
    assert job.skipped == [0] and job.records == []  # image 0 skipped, image 1 stopped, image 2 never begun


def test_the_http_api_keeps_its_job_semantics_with_jobs_on_replicas(ray_engine, tiny_services, tmp_path):
    from tests.serving_helpers import FAST, USERS, WAIT, api, serving

    settings = replace(tiny_services.settings, auth_users=USERS, output_dir=tmp_path)
    services = replace(tiny_services, settings=settings, store=OutputStore(tmp_path))
    with serving(services, JobQueue(ray_engine, services.store, workers=2)) as (_, url), api(url, 0) as alice, api(url, 1) as bob:
        bad = alice.post("/v1/generate", json={"prompt": "x", **FAST, "steps": 10_000})
        assert bad.status_code == 422 and "steps" in bad.text  # checked by the front, before any replica
        ids = [alice.post("/v1/generate", json={"prompt": "api on ray", "seed": seed, **FAST}).json()["id"] for seed in (3, 4)]
        views = [alice.get(f"/v1/jobs/{job_id}", params=WAIT).json() for job_id in ids]
        assert [view["state"] for view in views] == ["done", "done"]
        assert [view["images"][0]["seed"] for view in views] == [3, 4]
        png = alice.get(views[0]["images"][0]["url"])
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert bob.get(f"/v1/jobs/{ids[0]}").status_code == 404 and bob.get("/v1/jobs").json() == []


def test_the_throughput_benchmark_times_jobs_that_all_finished(ray_engine, tmp_path):
    from benchmarks.scaleout import scaleout_table, timed_round

    seconds = timed_round(ray_engine, 2, tmp_path, REQUEST, jobs=2)
    assert 0 < seconds < TIMEOUT and len(list(tmp_path.rglob("*.png"))) == 2
    table = scaleout_table({"jobs": 2, "rounds": 1, "steps": 2, "size": 64, "cpus": 2, "load_before": 0.5,
                            "jobs_per_s": {"1": [1.0], "2": [1.9]}, "median_jobs_per_s": {"1": 1.0, "2": 1.9},
                            "round_ratios": [1.9], "ratio": 1.9})  # fmt: skip
    assert "1.90x" in table and "1.90 jobs/s" in table


def test_a_replica_killed_mid_job_loses_nothing_and_the_next_jobs_succeed(ray_engine, tiny_services, tmp_path):
    request = replace(SLOW, steps=12, image_count=3)
    with queue(ray_engine, tmp_path, 2) as jobs:
        job = jobs.submit(request, "alice")
        wait_until(jobs, job, lambda job: len(job.records) == 1 and job.progress.image_index == 1)
        saved_before = Path(job.records[0].path).read_bytes()
        (victim,) = ray_engine.busy_replicas()
        os.kill(victim["pid"], signal.SIGKILL)
        finished(jobs, job)
        assert job.state is JobState.DONE, job.error  # its remaining images were made on the other replica
        assert [record.seed for record in job.records] == [7, 8, 9]
        assert Path(job.records[0].path).read_bytes() == saved_before
        following = [jobs.submit(replace(REQUEST, seed=seed), "bob") for seed in (20, 21)]
        assert all(finished(jobs, next_job).state is JobState.DONE for next_job in following)
    with torch_threads(1):
        alone = tiny_services.engine.run(request)
    from PIL import Image

    retried = [Image.open(record.path).tobytes() for record in job.records]
    assert retried == [generated.image.tobytes() for generated in alone.images]  # as if nothing had happened
