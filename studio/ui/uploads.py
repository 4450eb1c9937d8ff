"""Image boxes that survive a file that is not an image (a text file renamed .png, a truncated download).

gradio decodes an image box's file before any handler runs, for every event that reads the box, so such a
file would fail each of those events (Generate included) with the decoder's raw message and a server path.
`checked_image_box` makes a box read it as empty instead, and `upload_check` (run on the file as uploaded) says so in
one sentence naming the box, and empties the box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from studio.inputs import ImageTooLarge, decode_image
from studio.types import InvalidRequest
from studio.ui.guard import guarded

UNDECODABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def checked_image_box(box: gr.Image | gr.ImageEditor) -> gr.Image | gr.ImageEditor:
    """`box`, made to read an undecodable file as no image (`upload_check` tells the user). Done on the
    instance: a subclass of a gradio component makes gradio write a .pyi file beside this module on import."""
    decode = box.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return decode(payload)
        except UNDECODABLE:
            return None

    box.preprocess = preprocess
    return box


def uploaded_path(payload: Any) -> str | None:
    """The server path of an upload handed over unprocessed (gradio's FileData as a dict; an image editor's
    value: its background's), or None."""
    if isinstance(payload, dict):
        if "background" in payload:
            return uploaded_path(payload["background"])
        return payload.get("path")
    return payload if isinstance(payload, str) else None


def check_uploaded_image(path: str, field: str) -> None:
    """InvalidRequest naming `field` unless the file at `path` is an image the studio takes."""
    try:
        decode_image(Path(path).read_bytes(), field)
    except ImageTooLarge:
        raise
    except (InvalidRequest, OSError):
        raise InvalidRequest(field, "the file is not a readable image") from None


def upload_check(box: gr.Image | gr.ImageEditor):
    """The handler of `box.upload` (wired with `preprocess=False`, so it sees the file as uploaded): nothing
    for an image; for anything else one warning naming the box, and the box emptied."""
    label = box.label or "Image"

    def check(upload: Any) -> Any:
        path = uploaded_path(upload)
        if path:
            check_uploaded_image(path, label)
        return gr.skip()

    return guarded(label, check, fallback=lambda: None)


def wire_upload_checks(boxes: list[gr.Image | gr.ImageEditor]) -> None:
    for box in boxes:
        box.upload(upload_check(box), inputs=box, outputs=box, preprocess=False, api_visibility="private")
