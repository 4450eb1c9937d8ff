"""The job queue: one FIFO shared by the UI and the HTTP API, drained by one worker thread per GPU (here one).

A job belongs to an owner (a UI session or an API user); only that owner can see, stop, skip or cancel it.
Each image is saved the moment it is decoded, so a job that fails later keeps what it made and never
touches another job's outputs. An out-of-memory error frees memory, switches the model to a low-memory
mode (VAE tiling, model CPU offload where available) and retries the rest of the job once; then the job
fails with a clear message and the worker goes on with the next one.
"""

from __future__ import annotations

import gc
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from studio.jobs import JobControl
from studio.types import GenerationRequest, ImageRecord, ProgressEvent
from studio.user_errors import is_user_error, log_failure

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED = 64  # jobs waiting, all owners together
DEFAULT_PER_OWNER = 16  # jobs waiting or running, per owner
DEFAULT_RETAINED = 1000  # finished jobs remembered for polling; their images stay on disk regardless


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class QueueFull(RuntimeError):
    """The queue (or this owner's share of it) is full; the message says which limit and how to go on."""


class JobNotFound(KeyError):
    """No such job for this owner (another owner's job is reported the same way)."""


def is_out_of_memory(error: BaseException) -> bool:
    try:
        import torch

        if isinstance(error, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return isinstance(error, (RuntimeError, MemoryError)) and (
        isinstance(error, MemoryError) or "out of memory" in str(error).lower()
    )


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def low_memory_mode(pipeline) -> list[str]:
    """Switch the pipeline to what costs less memory, where it has it; returns what was switched on."""
    switched = []
    vae = getattr(pipeline, "vae", None)
    if vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
        switched.append("VAE tiling")
    device = getattr(getattr(pipeline, "device", None), "type", "cpu")
    if device == "cuda" and hasattr(pipeline, "enable_model_cpu_offload"):
        try:
            pipeline.enable_model_cpu_offload()
            switched.append("model CPU offload")
        except Exception as error:  # noqa: BLE001 - accelerate missing or unsupported: tiling alone
            log.warning("model CPU offload is not available: %s", error)
    return switched


@dataclass
class Job:
    id: str
    owner: str
    request: GenerationRequest
    control: JobControl = field(default_factory=JobControl)
    state: JobState = JobState.QUEUED
    progress: ProgressEvent | None = None
    records: list[ImageRecord] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    version: int = 0  # bumped on every change; `JobQueue.wait` waits for it to move
    # Work other than making `request`'s images (a sampler comparison): run by the worker in its turn as
    # `task(job, report_progress)`; what it returns is kept in `result`.
    task: Callable[[Job, Callable[[ProgressEvent], None]], Any] | None = None
    kind: str = "generate"
    result: Any = None


class JobQueue:
    def __init__(
        self,
        engine,
        store,
        max_queued: int = DEFAULT_MAX_QUEUED,
        per_owner: int = DEFAULT_PER_OWNER,
        retained: int = DEFAULT_RETAINED,
        on_out_of_memory: Callable[[], list[str]] | None = None,
        workers: int = 1,  # 17: jobs run at once (one per engine replica with --ray)
    ):
        self.engine = engine
        self.workers = workers
        self.store = store
        self.max_queued = max_queued
        self.per_owner = per_owner
        self.retained = retained
        self._on_out_of_memory = on_out_of_memory or self._default_low_memory
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: deque[Job] = deque()
        self._changed = threading.Condition()
        self._watchers: dict[str, list[Callable[[], None]]] = {}  # job id -> called once it finishes
        self._closed = False
        self._worker: threading.Thread | None = None
        self._more_workers: list[threading.Thread] = []  # 17: workers beyond the first

    # --- front ends -------------------------------------------------------------------------------------

    def start(self) -> JobQueue:
        with self._changed:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="studio-worker", daemon=True)
                self._worker.start()
                for number in range(2, self.workers + 1):
                    self._more_workers.append(threading.Thread(target=self._work, name=f"studio-worker-{number}", daemon=True))
                    self._more_workers[-1].start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, cancel the waiting ones, stop the running one and wait for the worker."""
        with self._changed:
            self._closed = True
            while self._waiting:
                self._finish(self._waiting.popleft(), JobState.CANCELLED)
            for job in self._jobs.values():
                if job.state is JobState.RUNNING:
                    job.control.stop()
            self._changed.notify_all()
        for worker in [self._worker, *self._more_workers]:
            if worker is not None:
                worker.join(timeout)

    def submit(self, request: GenerationRequest, owner: str) -> Job:
        """Queue a request (validated here: InvalidRequest for bad input) for `owner`; QueueFull when full."""
        return self.submit_task(request, owner)

    def submit_task(self, request: GenerationRequest, owner: str, task=None, kind: str = "generate") -> Job:
        """Queue `task` (see `Job.task`; None makes `request`'s images) for `owner`, under the same limits as
        any job; `request` (validated here) is what the task works from."""
        request = self.engine.validate(request)
        with self._changed:
            if self._closed:
                raise QueueFull("the studio is shutting down; no new jobs are taken")
            if len(self._waiting) >= self.max_queued:
                raise QueueFull(
                    f"queue full: {len(self._waiting)} jobs are waiting (at most {self.max_queued}); try again later"
                )
            mine = sum(1 for job in self._jobs.values() if job.owner == owner and not job.state.finished)
            if mine >= self.per_owner:
                raise QueueFull(
                    f"queue full for you: {mine} of your jobs are waiting or running (at most {self.per_owner}); "
                    "wait for one to finish or cancel one"
                )
            job = Job(id=secrets.token_urlsafe(12), owner=owner, request=request, task=task, kind=kind)
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._forget_old()
            self._changed.notify_all()
            return job

    def get(self, job_id: str, owner: str) -> Job:
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None or job.owner != owner:
                raise JobNotFound(job_id)
            return job

    def jobs_of(self, owner: str) -> list[Job]:
        with self._changed:
            return [job for job in self._jobs.values() if job.owner == owner]

    def position(self, job: Job) -> int:
        """0 while running or finished, else 1 for the next job to run, 2 for the one after, ..."""
        with self._changed:
            for index, waiting in enumerate(self._waiting):
                if waiting is job:
                    return index + 1
            return 0

    def cancel(self, job_id: str, owner: str) -> Job:
        """Cancel the owner's job: a waiting job is dropped, a running one stops after its current step
        (images it already saved are kept). A finished job is left as it is."""
        with self._changed:
            job = self.get(job_id, owner)
            if job.state is JobState.QUEUED:
                self._waiting.remove(job)
                self._finish(job, JobState.CANCELLED)
            elif job.state is JobState.RUNNING:
                job.control.stop()
            return job

    def skip(self, job_id: str, owner: str) -> Job:
        job = self.get(job_id, owner)
        if job.state is JobState.RUNNING:
            job.control.skip()
        return job

    def wait(self, job: Job, seen_version: int, timeout: float) -> int:
        """Block until `job` changed since `seen_version` (or the queue moved), at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while job.version == seen_version and not job.state.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return job.version

    def wait_finished(self, job: Job, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not job.state.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def on_finished(self, job: Job, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` (non-blocking; from the thread that finishes the job) once `job` has finished, at
        once if it has; returns a function that forgets it. For waiting without a thread (async long polls)."""
        with self._changed:
            if not job.state.finished:
                self._watchers.setdefault(job.id, []).append(callback)

                def forget() -> None:
                    with self._changed:
                        waiting = self._watchers.get(job.id, [])
                        if callback in waiting:
                            waiting.remove(callback)
                        if not waiting:
                            self._watchers.pop(job.id, None)

                return forget
        callback()
        return lambda: None

    def counts(self) -> dict[str, int]:
        with self._changed:
            running = sum(1 for job in self._jobs.values() if job.state is JobState.RUNNING)
            return {"queued": len(self._waiting), "running": running}

    # --- the worker ---------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if self._closed and not self._waiting:
                    return
                job = self._waiting.popleft()
                job.state = JobState.RUNNING
                job.started = time.time()
                self._touch_all()
            try:
                self._run(job)
            except Exception as error:  # noqa: BLE001 - any failure ends this job only, never the worker
                log_failure(log, f"job {job.id} failed", error)  # a user's mistake is one line, a bug a traceback
                with self._changed:
                    job.error = _describe(error)
                    self._finish(job, JobState.FAILED)
                continue
            with self._changed:
                self._finish(job, JobState.CANCELLED if job.control.stopped else JobState.DONE)

    def _run(self, job: Job) -> None:
        if job.task is not None:

            def report(event: ProgressEvent) -> None:
                with self._changed:
                    job.progress = event
                    self._touch(job)

            job.result = job.task(job, report)
            return
        request = job.request
        done = 0  # images of `job.request` already made (saved or skipped)
        retried = False
        while True:
            offset = done
            part = (
                request
                if offset == 0
                else replace(request, seed=request.image_seed(offset), image_count=request.image_count - offset)
            )

            def on_progress(event: ProgressEvent, offset=offset) -> None:
                with self._changed:
                    job.progress = replace(
                        event, image_index=event.image_index + offset, image_count=request.image_count
                    )
                    self._touch(job)

            def on_image(index: int, generated, offset=offset) -> None:
                nonlocal done
                record = self.store.space(job.owner).save(generated.image, generated.request)
                with self._changed:
                    job.records.append(record)
                    self._touch(job)
                done = offset + index + 1

            try:
                result = self.engine.run(part, on_progress=on_progress, control=job.control, on_image=on_image)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                free_memory()
                if retried:
                    raise MemoryError(
                        f"out of memory even in low-memory mode; {len(job.records)} of {request.image_count} image(s) "
                        "were saved. Try a smaller size or fewer images"
                    ) from error
                retried = True
                switched = self._on_out_of_memory()
                log.warning("job %s ran out of memory; retrying with %s", job.id, ", ".join(switched) or "memory freed")
                continue
            with self._changed:
                job.skipped.extend(offset + index for index in result.skipped)
            return

    def _default_low_memory(self) -> list[str]:
        manager = getattr(self.engine, "manager", None)
        pipeline = getattr(manager, "_pipeline", None)
        return low_memory_mode(pipeline) if pipeline is not None else []

    # --- bookkeeping (callers hold the lock) ----------------------------------------------------------------

    def _touch(self, job: Job) -> None:
        job.version += 1
        self._changed.notify_all()

    def _touch_all(self) -> None:
        """The queue moved: every waiting job's position changed."""
        for waiting in self._jobs.values():
            if not waiting.state.finished:
                waiting.version += 1
        self._changed.notify_all()

    def _finish(self, job: Job, state: JobState) -> None:
        job.state = state
        job.ended = time.time()
        self._touch_all()
        job.version += 1
        for callback in self._watchers.pop(job.id, ()):
            callback()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.state.finished]
        for job_id in finished[: max(0, len(self._jobs) - self.retained)]:
            del self._jobs[job_id]


def _describe(error: BaseException) -> str:
    if is_user_error(error):
        return str(error)  # written for the user: no class name in front
    if isinstance(error, MemoryError):
        return f"out of memory: {error}"
    if isinstance(error, OSError):  # its text holds server paths
        return f"generation failed: a file could not be read or written ({type(error).__name__})"
    return f"generation failed: {type(error).__name__}: {error}"


def job_summary(job: Job, position: int) -> dict[str, Any]:
    """A plain view of a job, for front ends."""
    progress = None
    if job.progress is not None:
        event = job.progress
        # within the image: its steps, or its tiles in a phase without steps (an upscale model's tiles)
        within = event.step / event.total_steps if event.total_steps else event.tile / max(1, event.tiles)
        progress = {
            "image": event.image_index + 1,
            "images": event.image_count,
            "step": event.step,
            "steps": event.total_steps,
            "fraction": round(min(1.0, (event.image_index + within) / max(1, event.image_count)), 4),
        }
        if event.tiles:
            progress.update(phase=event.phase, tile=event.tile, tiles=event.tiles)
    if job.state is JobState.DONE:
        progress = {**(progress or {}), "fraction": 1.0}
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state.value,
        "position": position,
        "progress": progress,
        "error": job.error,
        "request": job.request.to_dict(),
        "skipped": list(job.skipped),
        "created": job.created,
        "started": job.started,
        "ended": job.ended,
    }
