"""API routes beyond the job queue: input uploads, prompt expansion, sampler comparison, and lists.

    POST /v1/inputs   {"image": base64}  -> {"image": hash}: store an input image (image prompt, mask,
                      image to edit); requests then name it by that hash
    POST /v1/expand   {"prompt", "seed", "mode": "local"|"llm"|"instruct"} -> {"expansion", "prompt"}
    POST /v1/compare  {"request": {...}, "samplers": [...], "step_counts": [...]}
                      -> {"id", "grid": base64 PNG, "folder", "metrics"} once the grid is done: it is a job
                      of the shared queue (its per-user limits, 429 when full; GET/DELETE /v1/jobs/{id}
                      while it runs), made in a folder of its own (cells, chart and CSV stay there)
    GET  /v1/loras, /v1/performance
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from studio.api import MAX_JSON_BYTES, MAX_UPLOAD_BODY_BYTES, request_from_json, wait_finished
from studio.api_guards import ApiError, base64_field, parse_json_object, read_body
from studio.inputs import INPUT_FORMATS, decode_image
from studio.jobqueue import JobState, QueueFull
from studio.types import InvalidRequest, check_text, echo, limit_of, random_seed


def decode_base64_image(data: dict[str, Any], field: str = "image"):
    return decode_image(base64_field(data, field), field, formats=INPUT_FORMATS)


def _only_fields(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(422, echo(unknown[0]), f"is not a field of this route (fields: {', '.join(sorted(allowed))})")


def _relative_paths(data: Any, root: Path) -> Any:
    """The same data with file paths given relative to the output folder (clients never see server paths)."""
    if isinstance(data, dict):
        return {key: _relative_paths(value, root) for key, value in data.items()}
    if isinstance(data, list):
        return [_relative_paths(value, root) for value in data]
    if isinstance(data, str) and data.startswith(str(root)):
        return str(Path(data).relative_to(root))
    return data


def comparison_task(engine, comparison, store, root: Path):
    """The job-queue task of a sampler comparison (see `JobQueue.submit_task`): its cells, grid, chart and
    metrics go to a folder of its own (the job id is in its name, and it is created, never reused), so two
    comparisons with one seed in one second never share a folder. Returns the API's answer."""
    from studio.compare import metrics_dict, run_comparison, write_comparison
    from studio.outputs import OutputStore

    def run(job, report) -> dict[str, Any]:
        folder = store.root / "compare" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{comparison.base.seed}_{job.id}"
        folder.mkdir(parents=True, exist_ok=False)
        result = run_comparison(engine, comparison, store=OutputStore(folder), on_progress=report, control=job.control)
        grid = b""
        if result.cells:
            grid = Path(write_comparison(result, folder)["grid"]).read_bytes()
        return {
            "id": job.id,
            "grid": base64.b64encode(grid).decode("ascii") if grid else None,  # PNG
            "folder": str(folder.relative_to(root)),  # under the server's output folder
            "metrics": _relative_paths(metrics_dict(result), root),
        }

    return run


def add_tool_routes(app: FastAPI, services, owner, jobs) -> None:
    engine = services.engine

    @app.get("/v1/loras", tags=["lists"])
    def loras(who: str = Depends(owner)) -> list[str]:
        return list(engine.libraries.loras.names())

    @app.get("/v1/performance", tags=["lists"])
    def performance(who: str = Depends(owner)) -> list[dict[str, Any]]:
        from studio.performance import PERFORMANCE_MODES

        return [{"name": mode.name, "steps": mode.steps, "forced": mode.forced, "describe": mode.describe()} for mode in PERFORMANCE_MODES.values()]

    @app.post("/v1/inputs", tags=["tools"])
    async def inputs(request: Request, who: str = Depends(owner)) -> dict[str, str]:
        data = parse_json_object(await read_body(request, MAX_UPLOAD_BODY_BYTES))
        _only_fields(data, {"image"})
        image = await run_in_threadpool(decode_base64_image, data)
        return {"image": await run_in_threadpool(engine.inputs.put, image)}

    @app.post("/v1/expand", tags=["tools"])
    async def expand(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        from studio.expansion.protocol import ExpansionError, compose_positive_prompt

        data = parse_json_object(await read_body(request, MAX_JSON_BYTES))
        _only_fields(data, {"prompt", "seed", "mode"})
        prompt, mode = data.get("prompt", ""), data.get("mode", "local")
        seed = random_seed() if data.get("seed") is None else data["seed"]
        if not isinstance(prompt, str):
            raise InvalidRequest("prompt", "must be text")
        check_text("prompt", prompt)
        limit_of("prompt").check("prompt", prompt)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise InvalidRequest("seed", "must be a whole number")
        limit_of("seed").check("seed", seed)
        if mode not in ("local", "llm", "instruct"):
            raise InvalidRequest("mode", "must be 'local', 'llm' or 'instruct'")
        try:
            expansion = await run_in_threadpool(lambda: engine.libraries.expanders.get(mode).expand(prompt, seed))
        except ExpansionError as error:
            raise ApiError(502, "mode", str(error)) from None
        return {"expansion": expansion, "prompt": compose_positive_prompt(prompt, expansion), "seed": seed, "mode": mode}

    @app.post("/v1/compare", tags=["tools"])
    async def compare(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        """Queue a comparison and answer once it is done (the wait holds no server thread)."""
        from studio.compare import ComparisonRequest, validate_comparison
        from studio.user_errors import is_user_error

        data = parse_json_object(await read_body(request, MAX_JSON_BYTES))
        _only_fields(data, {"request", "samplers", "step_counts"})
        if not isinstance(data.get("request", {}), dict):
            raise InvalidRequest("request", "must be a request object")
        base = request_from_json(data.get("request", {}), services.manager)
        samplers, steps = data.get("samplers"), data.get("step_counts")
        if not isinstance(samplers, list) or not all(isinstance(name, str) for name in samplers):
            raise InvalidRequest("samplers", "must be a list of sampler names")
        if not isinstance(steps, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in steps):
            raise InvalidRequest("step_counts", "must be a list of whole numbers")
        for index, name in enumerate(samplers):
            check_text(f"samplers[{index}]", name)
        comparison = validate_comparison(
            ComparisonRequest(replace(base, image_count=1), tuple(samplers), tuple(steps)),
            services.manager.info_for(base.model).size_limit,
        )
        failure: list[BaseException] = []
        run = comparison_task(engine, comparison, services.store.space(who), services.store.root)

        def task(job, report):
            try:
                return run(job, report)
            except Exception as error:
                failure.append(error)
                raise

        try:
            job = await run_in_threadpool(jobs.submit_task, comparison.base, who, task, "compare")
        except QueueFull as error:
            raise ApiError(429, "queue", str(error)) from None
        await wait_finished(jobs, job, None)
        if job.state is JobState.FAILED:
            error = failure[0] if failure else None
            if error is not None and is_user_error(error):
                raise ApiError(422, getattr(error, "field", "request"), getattr(error, "message", str(error)))
            raise ApiError(500, None, "the comparison failed; the server's log says why")
        if job.result is None:
            raise ApiError(409, "id", f"comparison {job.id} was cancelled before it started")
        return job.result
