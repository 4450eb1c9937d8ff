"""The HTTP API (FastAPI) over the shared job queue; `studio.server` mounts the Gradio UI beside it.

    POST   /v1/generate            a request object (as in a PNG's `studio` metadata) -> 202 {id, url, ...}
    GET    /v1/jobs                the caller's jobs
    GET    /v1/jobs/{id}[?wait=s]  state, queue position, progress, image URLs and metadata
    GET    /v1/jobs/{id}/images/{n} the n-th saved PNG (with its metadata chunks)
    DELETE /v1/jobs/{id}           cancel (a running job stops after its step; saved images are kept)
    POST   /v1/metadata            {"image": base64 PNG} -> the request recorded in a studio PNG
    GET    /v1/samplers|models|styles|presets|loras|performance, GET /health (no auth; says nothing private)
           (/v1/models: the loaded model and every checkpoint of <models-dir>/checkpoints a request may name)
    POST   /v1/inputs, /v1/expand, /v1/compare   see studio/api_tools.py

Every error is JSON `{"error": {"field": ..., "message": ...}}`: 400 unreadable body, 401 no or wrong
credentials, 404 no such job/image (another user's job is reported the same way), 413 too large,
422 a value outside its limits, 429 queue full. Bad input never gets a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio.auth import Auth
from studio.inputs import MAX_INPUT_BYTES, ImageTooLarge, open_image
from studio.jobqueue import Job, JobNotFound, JobQueue, QueueFull, job_summary
from studio.schedulers import SAMPLER_NAMES, SAMPLERS
from studio.types import GenerationRequest, InvalidRequest, random_seed

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 256 * 1024  # a request object is well under 20 KB even with two 4,000-character prompts
MAX_UPLOAD_BODY_BYTES = MAX_INPUT_BYTES * 4 // 3 + 64 * 1024  # an input image's base64 in a JSON object
MAX_WAIT_S = 60  # longest long poll of GET /v1/jobs/{id}?wait=
MAX_ECHO = 80  # characters of a bad value quoted back in an error


class ApiError(Exception):
    def __init__(self, status: int, field_name: str | None, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.field, self.message, self.headers = status, field_name, message, headers


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


def _error(status: int, field_name: str | None, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"field": field_name, "message": message}}, status_code=status, headers=headers)


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "body", f"is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body", f"is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ApiError(400, "body", "is empty; send a JSON object")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "body", "is not UTF-8 text; send a JSON object") from None
    except json.JSONDecodeError as error:
        raise ApiError(
            400, "body", f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (ValueError, RecursionError):  # numbers with thousands of digits, absurd nesting
        raise ApiError(400, "body", "is not JSON this server reads (a number too long or nesting too deep)") from None
    if not isinstance(data, dict):
        raise ApiError(422, "body", f"must be a JSON object, not {type(data).__name__}")
    return data


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
    info = models.info_for(data["model"])  # InvalidRequest naming `model` for anything not available
    data.setdefault("width", info.default_size[0])
    data.setdefault("height", info.default_size[1])
    return GenerationRequest.from_dict(data)


def request_schema(default_size: tuple[int, int]) -> dict[str, Any]:
    """The JSON schema of a generate body, for the OpenAPI document (limits from the declared ones)."""
    properties: dict[str, Any] = {}
    for f in fields(GenerationRequest):
        default = getattr(GenerationRequest(), f.name)
        kind = {str: "string", int: "integer", float: "number", tuple: "array", list: "array"}.get(
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
        prop["default"] = {"width": default_size[0], "height": default_size[1]}.get(f.name, default)
        properties[f.name] = prop
    properties["seed"]["description"] += "; random when left out"
    properties["model"]["description"] += " (also when left out); any name GET /v1/models lists"
    return {"type": "object", "properties": properties, "required": ["prompt"], "additionalProperties": False}


def base64_field(data: dict[str, Any], field: str, kind: str = "image") -> bytes:
    """The bytes of a base64 text field (a `data:` URL prefix allowed); 422 naming the field otherwise."""
    encoded = data.get(field)
    if not isinstance(encoded, str):
        raise ApiError(422, field, f"must be a base64-encoded {kind} (text)")
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, field, "is not valid base64") from None


def read_upload(data: dict[str, Any]) -> GenerationRequest:
    """The request recorded in an uploaded studio PNG (`{"image": base64}`), checked in bytes and pixels
    before any pixel is decoded."""
    from studio.outputs import read_request

    unknown = sorted(set(data) - {"image"})
    if unknown:
        raise ApiError(422, unknown[0], 'is not a field of this route (send {"image": "<base64 PNG>"})')
    with open_image(base64_field(data, "image", "PNG"), "image", formats=("PNG",)) as image:
        try:
            return read_request(image)
        except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated or corrupt chunks
            if isinstance(error, InvalidRequest):
                raise
            raise ApiError(422, "image", f"is a damaged PNG ({str(error)[:MAX_ECHO]})") from None


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

    def owner(request: Request) -> str:
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
        return view

    def find(job_id: str, who: str) -> Job:
        try:
            return jobs.get(job_id, who)
        except JobNotFound:
            raise ApiError(404, "id", "no such job") from None

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, Any]:
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
    def get_job(
        job_id: str,
        wait: float = Query(
            0, ge=0, le=MAX_WAIT_S, description="seconds to wait for the job to finish before answering"
        ),
        who: str = Depends(owner),
    ) -> dict[str, Any]:
        """The job now, or once it has finished if that is within `wait` seconds (long polling)."""
        job = find(job_id, who)
        if wait > 0:
            jobs.wait_finished(job, wait)
        return job_view(job)

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    def cancel_job(job_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        find(job_id, who)
        return job_view(jobs.cancel(job_id, who))

    @app.get("/v1/jobs/{job_id}/images/{index}", tags=["jobs"], response_class=FileResponse)
    def get_image(job_id: str, index: str, who: str = Depends(owner)):
        """The PNG itself, metadata chunks included. `index` counts from 0."""
        job = find(job_id, who)
        records = list(job.records)
        if not index.isdigit() or int(index) >= len(records):
            raise ApiError(404, "index", f"no image {_shorten(index)} in this job ({len(records)} saved so far)")
        path = Path(records[int(index)].path).resolve()
        if output_root not in path.parents or not path.is_file():
            raise ApiError(404, "index", "the image is no longer in the outputs folder")
        return FileResponse(path, media_type="image/png", filename=path.name)

    @app.post("/v1/metadata", tags=["tools"])
    async def metadata(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        """The request recorded in a PNG saved by this studio: `{"image": "<base64>"}` -> `{"request": {...}}`."""
        data = parse_json_object(await read_body(request, MAX_UPLOAD_BODY_BYTES))
        recorded = await run_in_threadpool(read_upload, data)
        return {"request": recorded.to_dict()}

    @app.get("/v1/samplers", tags=["lists"])
    def samplers(who: str = Depends(owner)) -> list[dict[str, Any]]:
        return [{"name": name, "stochastic": spec.stochastic} for name, spec in SAMPLERS.items()]

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

    @app.get("/v1/presets", tags=["lists"])
    def presets(who: str = Depends(owner)) -> list:
        return catalog.presets()

    from studio.api_tools import add_tool_routes

    add_tool_routes(app, services, owner)
    return app
