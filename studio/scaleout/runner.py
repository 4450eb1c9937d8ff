"""The studio's side of the Ray Serve deployment: RayEngine stands where the in-process Engine stands for
the job queue (`validate`, `run`), and sends each job to whichever replica is free.

- Progress, previews and images stream back from the replica as they happen; images are saved here, by the
  queue's OutputStore, the moment they arrive, so nothing made is lost if a replica dies later.
- Stop and Skip reach the replica by job id through the JobSignals actor (signals.py).
- A replica that dies mid-job: the images not yet made are retried once, on another replica; if that fails
  too the job fails with a sentence saying how many images were saved. Serve starts a new replica meanwhile.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import replace
from pathlib import Path

import ray
from ray import serve

from studio.jobs import JobControl
from studio.request_checks import input_hashes
from studio.scaleout.options import RaySettings
from studio.scaleout.replica import EngineReplica
from studio.scaleout.signals import JobSignals
from studio.scaleout.wire import error_from_wire, generated_from_wire, progress_from_wire
from studio.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

APP_NAME = "studio-engine"
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
# How a dead replica shows itself to a caller: its process is gone (died, killed, its node lost).
REPLICA_LOST = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)


class ReplicaLost(RuntimeError):
    """The replica making a job died, and so did the one that retried it; the message says what was saved."""


def connect(ray_settings: RaySettings, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at the address, or start one on this machine (no dashboard, this host only)."""
    if ray.is_initialized():
        return
    # Replicas import `studio` from the same checkout (on a cluster: the same image on every host).
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")]))}}
    if ray_settings.local:
        cpus = num_cpus if num_cpus is not None else ray_settings.replicas * ray_settings.replica_threads + 1
        ray.init(num_cpus=cpus, include_dashboard=False, runtime_env=runtime_env, logging_level=logging.WARNING)
    else:
        ray.init(address=ray_settings.address, runtime_env=runtime_env, logging_level=logging.WARNING)


def replica_gpus(device: str) -> int:
    """GPUs per replica: one where the replicas are to use CUDA. With `--device auto` that is where the
    cluster has GPUs, wherever the front runs (often a head node without one)."""
    if device == "auto":
        return 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    return 1 if device == "cuda" else 0


class RayEngine:
    """The job queue's engine when jobs run on Ray Serve replicas (see the module's docstring)."""

    def __init__(self, local_engine, handle, signals, replicas: int, app_name: str = APP_NAME):
        self.local = local_engine  # the front's engine: validation, model info, comparisons, the UI's tools
        self.handle = handle.options(stream=True)
        self.signals = signals
        self.replicas = replicas
        self.app_name = app_name
        self.libraries = local_engine.libraries
        self.inputs = local_engine.inputs
        self._where: dict[str, dict] = {}  # job id -> the replica making it (pid, node), while it runs
        self._lock = threading.Lock()

    @classmethod
    def start(cls, services, ray_settings: RaySettings, num_cpus: int | None = None, app_name: str = APP_NAME,
              replica_settings=None) -> RayEngine:  # fmt: skip
        """Connect to Ray and deploy `replicas` engine replicas of the front's model, each with its own
        resident engine; returns once every replica has loaded it. Replicas use the front's settings unless
        `replica_settings` are given (tests give them an inputs folder of their own, as on another host)."""
        connect(ray_settings, num_cpus)
        serve.start(proxy_location="Disabled")  # the studio's own server is the front door; no Serve HTTP
        gpus = replica_gpus(services.settings.device)
        deployment = serve.deployment(
            EngineReplica,
            name="engine",
            num_replicas=ray_settings.replicas,
            max_ongoing_requests=1,  # one job at a time per replica; the router waits for a free one
            ray_actor_options={"num_cpus": ray_settings.replica_threads, "num_gpus": gpus},
            health_check_period_s=2,
        )
        app = deployment.bind(replica_settings or services.settings, ray_settings.replica_threads)
        handle = serve.run(app, name=app_name, route_prefix=None, logging_config={"log_level": "WARNING"})
        signals = ray.remote(JobSignals).options(num_cpus=0).remote()
        return cls(services.engine, handle, signals, ray_settings.replicas, app_name)

    def close(self) -> None:
        serve.delete(self.app_name)

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        return self.local.validate(request)

    def busy_replicas(self) -> list[dict]:
        """The replicas (pid, node) making jobs right now, one entry per job."""
        with self._lock:
            return list(self._where.values())

    def run(self, request, on_progress=None, control: JobControl | None = None, on_image=None, job_id: str | None = None) -> GenerationResult:
        """As `Engine.run`, on a replica; `job_id` names the job for Stop/Skip (one is made if not given)."""
        request = self.validate(request)
        control = control or JobControl()
        job_id = job_id or secrets.token_urlsafe(12)
        images, skipped, stopped, done = [], [], False, 0
        try:
            for attempt in (1, 2):
                part = request if done == 0 else replace(request, seed=request.image_seed(done), image_count=request.image_count - done)
                offset = done
                try:
                    for message in self._stream(job_id, part, control):
                        if message["kind"] == "progress" and on_progress is not None:
                            event = progress_from_wire(message)
                            on_progress(replace(event, image_index=event.image_index + offset, image_count=request.image_count))
                        elif message["kind"] == "image":
                            generated = generated_from_wire(message)
                            images.append(generated)
                            if on_image is not None:
                                on_image(offset + message["index"], generated)
                            done = offset + message["index"] + 1
                        elif message["kind"] == "finished":
                            stopped = message["stopped"]
                            skipped.extend(offset + index for index in message["skipped"])
                        elif message["kind"] == "failed":
                            raise error_from_wire(message)
                    break
                except REPLICA_LOST as error:
                    if control.stopped:  # Stop was pressed: nothing to retry, the saved images are the job
                        stopped = True
                        break
                    if attempt == 2:
                        raise ReplicaLost(
                            f"the replica making this job stopped, and so did the one that retried it; {done} of "
                            f"{request.image_count} image(s) were saved. Try again"
                        ) from error
                    log.warning("job %s: its replica stopped (%s); retrying its images from %d on another one", job_id, type(error).__name__, done + 1)
                    skipped = [index for index in skipped if index < done]
        finally:
            with self._lock:
                self._where.pop(job_id, None)
            self.signals.forget.remote(job_id)
        return GenerationResult(request, tuple(images), stopped, tuple(skipped))

    def _stream(self, job_id: str, request: GenerationRequest, control: JobControl):
        """The replica's events for `request`, with the front's Stop/Skip passed on as they are pressed."""
        sent_stop = False
        # A replica on another host has no access to this studio's inputs folder: the job carries its inputs.
        inputs = {digest: self.local.inputs.path(digest).read_bytes() for _, digest in input_hashes(request)}
        for message in self.handle.run.remote(job_id, request.to_dict(), self.signals, inputs):
            if message["kind"] == "started":
                with self._lock:
                    self._where[job_id] = message["replica"]
            # Sent without waiting for the answer: the actor applies one caller's calls in order.
            if control.stopped and not sent_stop:
                self.signals.stop.remote(job_id)
                sent_stop = True
            elif control.interrupted and not control.stopped:  # Skip: pass it on, then clear it here
                control.begin_image()
                self.signals.skip.remote(job_id)
            yield message


def ray_job_queue(services, ray_settings: RaySettings):
    """The studio's job queue with its jobs made on Ray Serve replicas: one worker per replica, so as many
    jobs run at once as there are replicas; the rest wait in the queue with their position shown."""
    from studio.jobqueue import JobQueue
    from studio.services import StartupError

    try:
        engine = RayEngine.start(services, ray_settings)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise StartupError(f"--ray {ray_settings.address}: could not start the engine replicas: {error}") from error
    print(f"Jobs run on {ray_settings.replicas} Ray Serve replica(s) ({ray_settings.address})", flush=True)
    return JobQueue(engine, services.store, workers=ray_settings.replicas)
