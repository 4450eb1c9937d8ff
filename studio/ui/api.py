"""The programs' way in: one `/generate` endpoint with named, plain parameters (the request's own fields).

    Client(url).predict(prompt="a red cube", image_count=2, width=64, height=64, steps=2, seed=7,
                        model="", api_name="/generate")  # model: '' = the loaded one, or a checkpoint's name

returns `{"images": [{"saved_path", "file", "seed", "width", "height"}, ...], "request": {...},
"stopped": bool, "skipped": [...]}`: each saved PNG's path on the server and, as `file`, a gradio file that
gradio_client downloads (it puts the local copy's path there), and the resolved request. A bad value is
an error naming its field; the server carries on.
"""

# No `from __future__ import annotations`: gr.api reads these type hints at runtime to build the schema.

from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.jobqueue import JobQueue, JobState, QueueFull
from studio.types import GenerationRequest, InvalidRequest, random_seed
from studio.ui.events import QUEUE_CONCURRENCY
from studio.ui.session import NotLoggedIn, Owners, Session

# How long one `/generate` call waits for its job; the job is cancelled if it takes longer.
GENERATE_TIMEOUT_S = 3600

if TYPE_CHECKING:
    from studio.services import Services


def add_generate_endpoint(services: "Services", jobs: JobQueue, owners: Owners) -> None:
    """Register `/generate` in the open `gr.Blocks`. Defaults are the request's declared defaults at the
    loaded model's default size; `seed=None` draws a random seed (returned in `request`). With logins on a
    call is the logged-in user's (their images, their space); without, each call is its own owner."""
    info = services.manager.info
    defaults = GenerationRequest()
    default_width, default_height = info.default_size

    def generate(
        prompt: str,
        negative_prompt: str = defaults.negative_prompt,
        image_count: int = defaults.image_count,
        seed: int | None = None,
        width: int = default_width,
        height: int = default_height,
        steps: int = defaults.steps,
        cfg_scale: float = defaults.cfg_scale,
        sampler: str = defaults.sampler,
        model: str = "",
        scheduler: str = defaults.scheduler,
        vae: str = defaults.vae,
        refiner: str = defaults.refiner,
        refiner_switch: float = defaults.refiner_switch,
        translate: str = defaults.translate,  # 18: off, auto or always
        caller: gr.Request | None = None,
    ) -> dict:
        """Make images from a prompt and save them as PNGs with their settings in the metadata."""
        try:
            request = GenerationRequest.from_dict(
                {
                    "prompt": prompt,
                    "negative_prompt": negative_prompt,
                    "image_count": image_count,
                    "seed": random_seed() if seed is None else seed,
                    "width": width,
                    "height": height,
                    "steps": steps,
                    "cfg_scale": cfg_scale,
                    "sampler": sampler,
                    "model": model,  # '' = the model loaded when the job runs; a name from /v1/models switches
                    "scheduler": scheduler,
                    "vae": vae,
                    "refiner": refiner,
                    "refiner_switch": refiner_switch,
                    "translate": translate,
                }
            )
            job = jobs.submit(request, owners.bind(Session(), caller))
        except NotLoggedIn as error:
            raise gr.Error(str(error), title="Not logged in") from None
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Invalid setting") from None
        except QueueFull as error:
            raise gr.Error(str(error), title="Queue full") from None
        try:
            if not jobs.wait_finished(job, GENERATE_TIMEOUT_S):
                raise gr.Error(f"the job took longer than {GENERATE_TIMEOUT_S} s and was cancelled")
        finally:
            if not job.state.finished:
                jobs.cancel(job.id, job.owner)
        if job.state is JobState.FAILED:
            raise gr.Error(job.error or "generation failed", title="Generation failed")
        return _response(job.request, job.records, job.state is JobState.CANCELLED, job.skipped)

    gr.api(generate, api_name="generate", **QUEUE_CONCURRENCY)


def _file_data(path: str) -> dict[str, Any]:
    """Marked as a gradio file, so gradio_client downloads it and puts its local copy's path here."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _response(request: GenerationRequest, records, stopped: bool, skipped) -> dict[str, Any]:
    return {
        "images": [
            {"saved_path": r.path, "file": _file_data(r.path), "seed": r.seed, "width": r.width, "height": r.height}
            for r in records
        ],
        "request": request.to_dict(),
        "stopped": stopped,
        "skipped": list(skipped),
    }
