"""The HTTP API (FastAPI) over the shared job queue; `studio.server` mounts the Gradio UI beside it.

    POST   /v1/generate            a request object (as in a PNG's `studio` metadata) -> 202 {id, url, ...}
    GET    /v1/jobs                the caller's jobs
    GET    /v1/jobs/{id}[?wait=s]  state, queue position, progress, image URLs and metadata (a long poll
                                   waits on the event loop, holding no thread)
    GET    /v1/jobs/{id}/images/{n} the n-th saved PNG (with its metadata chunks)
    DELETE /v1/jobs/{id}           cancel (a running job stops after its step; saved images are kept)
    POST   /v1/metadata            {"image": base64 PNG/JPEG/WebP} -> the request recorded in it (this studio's,
                                   or Fooocus's/A1111's mapped, with what was ignored)
    GET    /v1/samplers|schedulers|vaes|embeddings|models|styles|presets|loras|performance, GET /health (no auth; says nothing private)
    POST   /v1/styles/refresh      re-read the user style files of <models-dir>/styles -> {styles, warnings}
           (/v1/models: the loaded model and every checkpoint of <models-dir>/checkpoints a request may name)
    POST   /v1/inputs, /v1/expand, /v1/compare   see studio/api_tools.py
    POST   /v1/masks/from-text     a mask from words (detector + SAM), see studio/segment/api_routes.py

A request is checked whole before anything is queued: every value against its limit, every text for valid
Unicode (a lone surrogate such as JSON's "\\ud800" is refused), every style, LoRA (slot or inline
`<lora:name:w>`), wildcard and input-image hash against what the studio has (studio.request_checks).

Every error is JSON `{"error": {"field": ..., "message": ...}}`, its message free of server paths: 400
unreadable body, 401 no or wrong credentials, 404 no such job/image/route (another user's job is reported the
same way; `field` null for a route), 405 a method the route does not take (with `Allow`), 413 too large, 415
a POST to /v1/* that is not `Content-Type: application/json`, 421 a Host header that is not a name the server
is served under (see studio.api_guards and --allowed-host), 422 a value outside its limits or a name the
studio does not have, 429 queue full. Bad input never gets a 500, and answers are strict JSON (no NaN).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from studio.api_guards import (
    ApiError,
    StrictJSONResponse,
    base64_field,
    error_response,
    hide_paths,
    parse_json_object,
    read_body,
)
from studio.auth import Auth
from studio.foreign_metadata import ImportedSettings
from studio.image_formats import MEDIA_TYPES
from studio.inputs import MAX_INPUT_BYTES, ImageTooLarge, open_image
from studio.jobqueue import Job, JobNotFound, JobQueue, QueueFull, job_summary
from studio.schedulers import SAMPLER_NAMES, SAMPLERS, SCHEDULE_NAMES
from studio.types import OUTPUT_FORMATS, GenerationRequest, InvalidRequest, check_text, echo, random_seed

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 256 * 1024  # a request object is well under 20 KB even with two 4,000-character prompts
MAX_UPLOAD_BODY_BYTES = MAX_INPUT_BYTES * 4 // 3 + 64 * 1024  # an input image's base64 in a JSON object
MAX_WAIT_S = 60  # longest long poll of GET /v1/jobs/{id}?wait=


@dataclass(frozen=True)
class Catalog:
    """The lists the API serves (styles, presets), as callables returning JSON data."""

    styles: Callable[[], list] = field(default=list)
    presets: Callable[[], list] = field(default=list)

    @classmethod
    def for_services(cls, services) -> Catalog:
        from studio.presets import load_presets, preset_values

        def styles() -> list:
            library = services.engine.libraries.styles
            return [{"name": s.name, "family": s.family, "prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in library.styles]

        def presets() -> list:
            return [
                {"name": p.name, "model": p.model, "description": p.description, "settings": preset_values(p)}
                for p in load_presets().values()
            ]

        return cls(styles=styles, presets=presets)


_error = error_response


def request_from_json(data: dict[str, Any], models) -> GenerationRequest:
    """The API's request: the metadata's request object; `seed` may be left out (or null) for a random one,
    `model` may be left out for the loaded model or name any available one (`models`, the PipelineManager,
    says which: GET /v1/models), and `width`/`height` default to that model's size."""
    data = dict(data)
    if data.get("seed") is None:
        data["seed"] = random_seed()
    if data.get("model") in (None, ""):
        data["model"] = models.info.name
    if not isinstance(data["model"], str):
        raise InvalidRequest("model", "must be text: a name from GET /v1/models")
    # InvalidRequest naming `model` for anything not available
    info = models.info_for(check_text("model", data["model"]))
    data.setdefault("width", info.default_size[0])
    data.setdefault("height", info.default_size[1])
    return GenerationRequest.from_dict(data)


def request_schema(default_size: tuple[int, int]) -> dict[str, Any]:
    """The JSON schema of a generate body, for the OpenAPI document (limits from the declared ones)."""
    properties: dict[str, Any] = {}
    for f in fields(GenerationRequest):
        default = getattr(GenerationRequest(), f.name)
        kind = {str: "string", int: "integer", float: "number", bool: "boolean", tuple: "array", list: "array"}.get(
            type(default), "object"
        )
        prop: dict[str, Any] = {"type": kind, "description": f.metadata.get("help", "")}
        if kind == "array":
            default = GenerationRequest().to_dict()[f.name]
        limit = f.metadata.get("limit")
        if limit is not None and kind == "string":
            prop["maxLength"] = int(limit.high)
        elif limit is not None and f.name not in ("width", "height"):
            prop["minimum"], prop["maximum"] = limit.low, limit.high
        if f.name == "sampler":
            prop["enum"] = list(SAMPLER_NAMES)
        if f.name == "output_format":  # 15D
            prop["enum"] = list(OUTPUT_FORMATS)
        if f.name == "scheduler":
            prop["enum"] = list(SCHEDULE_NAMES)
        prop["default"] = {"width": default_size[0], "height": default_size[1]}.get(f.name, default)
        properties[f.name] = prop
    properties["seed"]["description"] += "; random when left out"
    properties["model"]["description"] += " (also when left out); any name GET /v1/models lists"
    return {"type": "object", "properties": properties, "required": ["prompt"], "additionalProperties": False}


def read_upload(data: dict[str, Any], style_names: tuple[str, ...] | None = None) -> ImportedSettings:
    """The settings recorded in an uploaded PNG, JPEG or WebP (`{"image": base64}`) saved by this studio,
    Fooocus or A1111, checked in bytes and pixels before any pixel is decoded."""
    from studio.foreign_metadata import read_settings
    from studio.image_formats import READABLE_PIL_FORMATS

    unknown = sorted(set(data) - {"image"})
    if unknown:
        raise ApiError(422, unknown[0], 'is not a field of this route (send {"image": "<base64 PNG>"})')
    with open_image(base64_field(data, "image"), "image", formats=READABLE_PIL_FORMATS) as image:
        try:
            return read_settings(image, style_names)
        except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated or corrupt chunks
            if isinstance(error, InvalidRequest):
                raise
            raise ApiError(422, "image", f"is a damaged {image.format or 'image'} ({type(error).__name__})") from None


def create_api(services, jobs: JobQueue, auth: Auth, catalog: Catalog | None = None) -> FastAPI:
    """The FastAPI app with the API routes and JSON error handlers; the UI is mounted on it afterwards."""
    catalog = catalog or Catalog.for_services(services)
    manager = services.manager  # its model can change (presets, requests naming a checkpoint): read it live
    output_root = Path(services.settings.output_dir).resolve()
    app = FastAPI(
        title="SDXL Studio API",
        version="1",
        description=__doc__,
        docs_url="/v1/docs",
        redoc_url=None,
        openapi_url="/v1/openapi.json",
        default_response_class=StrictJSONResponse,
    )

    @app.exception_handler(ApiError)
    async def api_error(_request, error: ApiError):
        return _error(error.status, error.field, error.message, error.headers)

    @app.exception_handler(InvalidRequest)
    async def invalid_request(_request, error: InvalidRequest):
        return _error(422, error.field, error.message)

    @app.exception_handler(ImageTooLarge)
    async def image_too_large(_request, error: ImageTooLarge):
        return _error(413, error.field, error.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, error: RequestValidationError):
        first = (error.errors() or [{}])[0]
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "path", "query")]
        return _error(422, ".".join(location) or None, first.get("msg", "invalid input"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, error: StarletteHTTPException):
        return _error(error.status_code, None, str(error.detail), getattr(error, "headers", None))

    async def owner(request: Request) -> str:  # async: a few hashes, no reason to take a worker thread
        found = auth.owner_of(request.headers.get("authorization"))
        if found is None:
            raise ApiError(
                401,
                "authorization",
                "send HTTP basic auth (user:password) or 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Basic realm="studio", charset="UTF-8"'},
            )
        return found

    def job_view(job: Job) -> dict[str, Any]:
        view = job_summary(job, jobs.position(job))
        if view["error"]:  # written for the server's console, where paths help; not for a remote client
            view["error"] = hide_paths(view["error"])
        view["images"] = [
            {
                "url": f"/v1/jobs/{job.id}/images/{n}",
                "seed": record.seed,
                "width": record.width,
                "height": record.height,
                "created": record.created,
                "request": record.request.to_dict(),
            }
            for n, record in enumerate(list(job.records))
        ]
        try:  # answers must be strict JSON: a job that cannot be written is reported, never a 500
            json.dumps(view, allow_nan=False)
        except (TypeError, ValueError):
            log.exception("job %s cannot be shown", job.id)
            view = {"id": job.id, "state": job.state.value, "error": "this job's record cannot be shown"}
        return view

    def find(job_id: str, who: str) -> Job:
        try:
            return jobs.get(job_id, who)
        except JobNotFound:
            raise ApiError(404, "id", "no such job") from None

    @app.get("/health", tags=["meta"])
    async def health() -> dict[str, Any]:  # on the event loop: answers however busy the thread pool is
        return {"status": "ok", "queue": jobs.counts()}

    @app.post(
        "/v1/generate",
        status_code=202,
        tags=["jobs"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema(manager.info.default_size)}},
            }
        },
    )
    async def generate(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        """Queue a generation; answer the job id at once. Poll `GET /v1/jobs/{id}` for its images."""
        data = parse_json_object(await read_body(request, MAX_JSON_BYTES))
        generation = request_from_json(data, manager)
        try:
            job = await run_in_threadpool(jobs.submit, generation, who)
        except QueueFull as error:
            raise ApiError(429, "queue", str(error)) from None
        return {
            "id": job.id,
            "url": f"/v1/jobs/{job.id}",
            "state": job.state.value,
            "position": jobs.position(job),
            "request": job.request.to_dict(),
        }

    @app.get("/v1/jobs", tags=["jobs"])
    def list_jobs(who: str = Depends(owner)) -> list[dict[str, Any]]:
        return [job_view(job) for job in jobs.jobs_of(who)]

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def get_job(
        job_id: str,
        wait: float = Query(
            0, ge=0, le=MAX_WAIT_S, description="seconds to wait for the job to finish before answering"
        ),
        who: str = Depends(owner),
    ) -> dict[str, Any]:
        """The job now, or once it has finished if that is within `wait` seconds (long polling)."""
        job = find(job_id, who)
        if wait > 0:
            await wait_finished(jobs, job, wait)
        return job_view(job)

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    def cancel_job(job_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        find(job_id, who)
        return job_view(jobs.cancel(job_id, who))

    @app.get("/v1/jobs/{job_id}/images/{index}", tags=["jobs"], response_class=FileResponse)
    def get_image(job_id: str, index: str, who: str = Depends(owner)):
        """The saved file (PNG, JPEG or WebP, with its metadata). `index` counts from 0."""
        job = find(job_id, who)
        records = list(job.records)
        if not (index.isascii() and index.isdigit()) or int(index) >= len(records):  # "²".isdigit() is true
            raise ApiError(404, "index", f"no image '{echo(index)}' in this job ({len(records)} saved so far)")
        path = Path(records[int(index)].path).resolve()
        if output_root not in path.parents or not path.is_file():
            raise ApiError(404, "index", "the image is no longer in the outputs folder")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "image/png"), filename=path.name)

    @app.post("/v1/metadata", tags=["tools"])
    async def metadata(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        """The request recorded in an image saved by this studio, Fooocus or A1111 (PNG, JPEG, WebP):
        `{"image": "<base64>"}` -> `{"request": {...}, "source": "studio|fooocus|a1111", "ignored": [...],
        "note": "..."}`; `ignored` names the settings the studio has no match for (`note` says so in words)."""
        data = parse_json_object(await read_body(request, MAX_UPLOAD_BODY_BYTES))
        style_names = services.engine.libraries.styles.names
        imported = await run_in_threadpool(read_upload, data, style_names)
        return {
            "request": imported.request.to_dict(),
            "source": imported.source,
            "ignored": list(imported.ignored),
            "note": imported.note,
        }

    @app.get("/v1/samplers", tags=["lists"])
    def samplers(who: str = Depends(owner)) -> list[dict[str, Any]]:
        return [{"name": name, "stochastic": spec.stochastic} for name, spec in SAMPLERS.items()]

    @app.get("/v1/schedulers", tags=["lists"])
    def schedulers(who: str = Depends(owner)) -> list[str]:
        return list(SCHEDULE_NAMES)

    @app.get("/v1/vaes", tags=["lists"])
    def vaes(who: str = Depends(owner)) -> list[str]:
        return list(services.engine.vaes.library.names())

    @app.get("/v1/embeddings", tags=["lists"])
    def embeddings(who: str = Depends(owner)) -> list[str]:
        return list(services.engine.embeddings.library.names())

    @app.get("/v1/models", tags=["lists"])
    def models(who: str = Depends(owner)) -> list[dict[str, Any]]:
        """The loaded model first, then every other name a request's `model` may give."""
        loaded = manager.info
        others = [manager.info_for(name) for name in manager.available_models() if name != loaded.name]
        return [
            {
                "name": info.name,
                "loaded": info is loaded,
                "device": info.device,
                "dtype": info.dtype,
                "random_weights": info.random_weights,
                "default_size": list(info.default_size),
                "sizes": [list(size) for size in info.native_sizes],
            }
            for info in (loaded, *others)
        ]

    @app.get("/v1/styles", tags=["lists"])
    def styles(who: str = Depends(owner)) -> list:
        return catalog.styles()

    @app.post("/v1/styles/refresh", tags=["lists"])
    def refresh_styles(who: str = Depends(owner)) -> dict[str, Any]:
        """15D: re-read the user style files of <models-dir>/styles; `warnings` name each file not loaded."""
        from studio.user_styles import reload_styles

        loaded = reload_styles(services.engine)
        return {"styles": len(loaded.library.styles), "user_styles": loaded.user_count, "warnings": list(loaded.warnings)}

    @app.get("/v1/presets", tags=["lists"])
    def presets(who: str = Depends(owner)) -> list:
        return catalog.presets()

    from studio.api_tools import add_tool_routes

    add_tool_routes(app, services, owner, jobs)
    from studio.segment.api_routes import add_mask_routes  # 16: POST /v1/masks/from-text

    add_mask_routes(app, services, owner)
    add_unknown_routes(app)  # last: only what no route above took
    return app


async def wait_finished(jobs: JobQueue, job: Job, timeout: float) -> None:
    """Wait up to `timeout` seconds for `job` to finish without holding a thread: the job queue's worker
    wakes this event loop when it finishes the job (a long poll must not take one of the shared threads)."""
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(finished.set)
        except RuntimeError:  # the loop has closed (the server stopped): nobody is waiting any more
            pass

    forget = jobs.on_finished(job, wake)
    try:
        await asyncio.wait_for(finished.wait(), timeout)
    except TimeoutError:
        pass
    finally:
        forget()


def add_unknown_routes(app: FastAPI) -> None:
    """Unknown `/v1` paths and methods (and /health's) answer in the documented error shape (404, 405 with
    `Allow`), not as the UI mounted at `/` would."""
    routes = list(app.router.routes)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    @app.api_route("/health", methods=methods, include_in_schema=False)
    @app.api_route("/v1", methods=methods, include_in_schema=False)
    @app.api_route("/v1/{path:path}", methods=methods, include_in_schema=False)
    async def unknown(request: Request):
        allowed = sorted(
            {
                method
                for route in routes
                if route.matches(request.scope)[0] is Match.PARTIAL
                for method in getattr(route, "methods", None) or ()
            }
        )
        if allowed:
            message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
            raise ApiError(405, None, message, {"Allow": ", ".join(allowed)})
        raise ApiError(404, None, "no such route; the API's routes are listed at /v1/docs")
