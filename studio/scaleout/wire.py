"""What a replica streams back to the studio, as plain data (texts, numbers, bytes, dicts): no objects of
ours cross the wire, and the front rebuilds requests through `GenerationRequest.from_dict`, which checks them.

A job's stream is a sequence of events, each a dict with a `kind`:
  started   {replica: {pid, node}}                       the replica that took the job
  progress  {event: ProgressEvent fields, preview bytes}  after each denoising step or tile
  image     {index, image: raw pixels, request: dict}     an image, the moment it is decoded
  finished  {stopped, skipped}                            the job's end
  failed    {error_type, message, field, user_error}      the job's failure, as text
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from PIL import Image

from studio.types import GeneratedImage, GenerationRequest, InvalidRequest, ProgressEvent


def image_to_wire(image: Image.Image) -> dict[str, Any]:
    """Raw pixels: exact (the front saves the very pixels the replica made) and cheaper than a PNG."""
    return {"mode": image.mode, "size": list(image.size), "pixels": image.tobytes()}


def image_from_wire(data: dict[str, Any]) -> Image.Image:
    return Image.frombytes(data["mode"], tuple(data["size"]), data["pixels"])


def progress_to_wire(event: ProgressEvent) -> dict[str, Any]:
    data = asdict(event)
    preview = data.pop("preview")
    if preview is not None:
        preview = np.ascontiguousarray(preview, dtype=np.uint8)
        data["preview"] = {"shape": list(preview.shape), "pixels": preview.tobytes()}
    return {"kind": "progress", "event": data}


def progress_from_wire(message: dict[str, Any]) -> ProgressEvent:
    data = dict(message["event"])
    preview = data.pop("preview", None)
    if preview is not None:
        preview = np.frombuffer(preview["pixels"], dtype=np.uint8).reshape(preview["shape"]).copy()
    return ProgressEvent(**data, preview=preview)


def image_message(index: int, generated: GeneratedImage) -> dict[str, Any]:
    return {"kind": "image", "index": index, "image": image_to_wire(generated.image), "request": generated.request.to_dict()}


def generated_from_wire(message: dict[str, Any]) -> GeneratedImage:
    return GeneratedImage(image_from_wire(message["image"]), GenerationRequest.from_dict(message["request"]))


def failure_message(error: BaseException) -> dict[str, Any]:
    from studio.user_errors import is_user_error

    return {
        "kind": "failed",
        "error_type": type(error).__name__,
        "message": str(error),
        "field": getattr(error, "field", None),
        "detail": getattr(error, "message", None),
        "user_error": is_user_error(error),
    }


class ReplicaError(RuntimeError):
    """A replica's job failed with an error that is not the user's to fix; the message names its type."""


def error_from_wire(message: dict[str, Any]) -> BaseException:
    """The replica's error, rebuilt as the studio's own class where the user is to fix it (a bad value, a
    model that cannot be had), so the front shows the same sentence as in-process; else a ReplicaError."""
    from studio.models import ModelUnavailable

    if message["error_type"] == "InvalidRequest" and message["field"]:
        return InvalidRequest(message["field"], message["detail"] or message["message"])
    if message["error_type"] == "ModelUnavailable":
        return ModelUnavailable(message["message"])
    if "out of memory" in message["message"].lower():
        return MemoryError(message["message"])
    return ReplicaError(f"{message['error_type']}: {message['message']}")
