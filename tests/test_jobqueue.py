"""The job queue alone on the tiny model: order, limits, owners, and failures that stay inside their job."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import torch

from studio.jobqueue import JobNotFound, JobQueue, JobState, QueueFull
from studio.outputs import OutputStore


class ScriptedEngine:
    """The real engine, with failures injected by a script: each entry is raised by one `run` call, after
    `after_images` images were made (None runs normally)."""

    def __init__(self, engine, script):
        self.engine, self.script, self.calls = engine, list(script), []
        self.gate = threading.Event()
        self.gate.set()

    def validate(self, request):
        return self.engine.validate(request)

    def run(self, request, on_progress=None, control=None, on_image=None):
        self.calls.append(request)
        self.gate.wait(60)
        failure = self.script.pop(0) if self.script else None
        if failure is None:
            return self.engine.run(request, on_progress=on_progress, control=control, on_image=on_image)
        error, after_images = failure
        if after_images:
            self.engine.run(replace(request, image_count=after_images), control=control, on_image=on_image)
        raise error


@pytest.fixture
def make_queue(tiny_services, tmp_path):
    queues = []

    def make(script=(), **options):
        engine = ScriptedEngine(tiny_services.engine, script)
        queue = JobQueue(engine, OutputStore(tmp_path / "outputs"), **options)
        queues.append(queue)
        return queue, engine

    yield make
    for queue in queues:
        queue.close()


def oom() -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_frees_memory_switches_to_low_memory_and_retries_the_rest_once(make_queue, tiny_request):
    switched = []
    queue, engine = make_queue([(oom(), 1)], on_out_of_memory=lambda: switched.append("low") or ["VAE tiling"])
    job = queue.submit(replace(tiny_request, image_count=3, width=32, height=32), "alice")
    queue.start()
    assert queue.wait_finished(job, 60)
    assert job.state is JobState.DONE and switched == ["low"]
    assert [record.seed for record in job.records] == [7, 8, 9]  # the image made before the failure is kept
    assert [(call.seed, call.image_count) for call in engine.calls] == [(7, 3), (8, 2)]  # the rest, once


def test_out_of_memory_twice_fails_only_that_job_with_a_clear_message(make_queue, tiny_request):
    queue, _ = make_queue([(oom(), 0), (oom(), 0)], on_out_of_memory=list)
    failing = queue.submit(replace(tiny_request, width=32, height=32), "alice")
    next_one = queue.submit(replace(tiny_request, width=32, height=32, seed=99), "bob")
    queue.start()
    assert queue.wait_finished(next_one, 60)
    assert failing.state is JobState.FAILED and "out of memory" in failing.error and "smaller size" in failing.error
    assert next_one.state is JobState.DONE and [r.seed for r in next_one.records] == [99]


def test_a_crashing_job_keeps_its_saved_images_and_the_worker_goes_on(make_queue, tiny_request):
    queue, _ = make_queue([(RuntimeError("boom"), 1)])
    crashing = queue.submit(replace(tiny_request, image_count=2, width=32, height=32), "alice")
    after = queue.submit(replace(tiny_request, width=32, height=32, seed=5), "alice")
    queue.start()
    assert queue.wait_finished(after, 60)
    assert crashing.state is JobState.FAILED and "boom" in crashing.error
    assert len(crashing.records) == 1 and after.state is JobState.DONE and len(after.records) == 1


def test_queue_limits_positions_and_owners(make_queue, tiny_request):
    queue, _ = make_queue(max_queued=4, per_owner=2)
    request = replace(tiny_request, width=32, height=32)
    first, second, third = queue.submit(request, "alice"), queue.submit(request, "bob"), queue.submit(request, "alice")
    with pytest.raises(QueueFull, match="queue full for you: 2 of your jobs"):
        queue.submit(request, "alice")
    queue.submit(request, "carol")
    with pytest.raises(QueueFull, match="queue full: 4 jobs are waiting"):
        queue.submit(request, "dave")
    assert [queue.position(job) for job in (first, second, third)] == [1, 2, 3]
    with pytest.raises(JobNotFound):
        queue.cancel(first.id, "bob")  # not bob's
    assert queue.cancel(second.id, "bob").state is JobState.CANCELLED
    assert queue.position(third) == 2 and queue.jobs_of("bob") == [second]
    queue.start()
    assert queue.wait_finished(first, 60) and first.state is JobState.DONE


def test_a_job_summary_reports_tiles_and_moves_through_a_phase_without_steps(tiny_request):
    from studio.jobqueue import Job, job_summary
    from studio.types import ProgressEvent

    job = Job(id="j", owner="o", request=replace(tiny_request, image_count=2))
    job.progress = ProgressEvent(image_index=1, image_count=2, step=0, total_steps=0, tile=3, tiles=4, phase="upscaling")
    progress = job_summary(job, 0)["progress"]
    assert (progress["phase"], progress["tile"], progress["tiles"]) == ("upscaling", 3, 4)
    assert progress["fraction"] == 0.875  # the second of two images, 3 of its 4 tiles done
    job.progress = ProgressEvent(image_index=0, image_count=2, step=5, total_steps=10)
    progress = job_summary(job, 0)["progress"]
    assert progress["fraction"] == 0.25 and "tiles" not in progress
