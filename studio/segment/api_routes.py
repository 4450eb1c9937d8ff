"""The mask-from-text route:

    POST /v1/masks/from-text  {"image": hash, "text": "face", "threshold": 0.3, "grow": 8}
        -> {"mask": hash, "png": base64 PNG, "width", "height", "pixels"}

`image` is an input hash (POST /v1/inputs); the mask (white = repaint) is stored as an input too, so an
inpaint request names it by `mask`. Limits are Enhance's region fields'; nothing found is a 422 naming `text`; models that cannot be had, a 503.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from studio.api import MAX_JSON_BYTES
from studio.api_guards import ApiError, parse_json_object, read_body
from studio.enhance_spec import EnhanceRegion
from studio.limits import coerce, echo
from studio.models import ModelUnavailable
from studio.segment.text_masks import mask_from_text, mask_image

FIELDS = ("image", "text", "threshold", "grow")
log = logging.getLogger(__name__)


def add_mask_routes(app: FastAPI, services, owner) -> None:
    engine = services.engine

    @app.post("/v1/masks/from-text", tags=["tools"])
    async def masks_from_text(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        data = parse_json_object(await read_body(request, MAX_JSON_BYTES))
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ApiError(422, echo(unknown[0]), f"is not a field of this route (fields: {', '.join(FIELDS)})")
        if "image" not in data or "text" not in data:
            missing = "image" if "image" not in data else "text"
            raise ApiError(422, missing, "is required (image: an input hash from POST /v1/inputs; text: what to find)")
        digest, text = coerce("image", data["image"], str), coerce("text", data["text"], str)
        threshold = coerce("threshold", data.get("threshold", EnhanceRegion.threshold), float)
        grow = coerce("grow", data.get("grow", EnhanceRegion.grow), int)

        def work() -> dict[str, Any]:
            image = engine.inputs.get(digest, "image").convert("RGB")
            found = mask_from_text(engine.text_masks, image, text, threshold, grow)
            picture, png = mask_image(found), io.BytesIO()
            picture.save(png, format="PNG")
            return {
                "mask": engine.inputs.put(picture),
                "png": base64.b64encode(png.getvalue()).decode("ascii"),
                "width": picture.width,
                "height": picture.height,
                "pixels": int(found.sum()),
            }

        try:
            return await run_in_threadpool(work)
        except ModelUnavailable as error:  # the console has the details (paths included); the client its gist
            log.warning("masks from words: %s", error)
            raise ApiError(503, None, "the detector and segmenter are not available on this server; its console says how to get them") from None
