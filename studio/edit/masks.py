"""Inpaint masks and crops: check an uploaded mask, grow and feather it, crop the masked region with context
at one of the model's native sizes, and paste the result back so nothing outside the grown mask changes.

Pure PIL/numpy/torch-on-CPU functions; the edit stage (stage.py) wires them into a sampling plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from studio.types import InvalidRequest, Limit


def mask_array(
    mask: Image.Image, image_size: tuple[int, int], field: str = "edit.mask", invert: bool = False
) -> np.ndarray:
    """A boolean (H, W) array, True where the image is repainted (white; a transparent layer counts as black;
    black instead when `invert`). Raises InvalidRequest naming `field` for a wrong size, an empty mask or one
    that covers everything."""
    if mask.size != tuple(image_size):
        raise InvalidRequest(
            field, f"is {mask.size[0]}x{mask.size[1]}; it must be the image's size, {image_size[0]}x{image_size[1]}"
        )
    value = np.asarray(mask.convert("L"), dtype=np.float32)
    if "A" in mask.getbands():
        value = value * np.asarray(mask.getchannel("A"), dtype=np.float32) / 255.0
    selected = value > 127.5
    if invert:
        selected = ~selected
        if not selected.any():
            raise InvalidRequest(field, "is all white, so inverted it repaints nothing; paint less, or do not invert")
    if not selected.any():
        raise InvalidRequest(field, "is empty (no white pixels); paint the area to repaint in white")
    if selected.all():
        raise InvalidRequest(field, "covers the whole image; use Vary to repaint all of it")
    return selected


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate a boolean mask by `pixels` (a square neighbourhood)."""
    if pixels <= 0:
        return mask.copy()
    tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
    grown = torch.nn.functional.max_pool2d(tensor, 2 * pixels + 1, stride=1, padding=pixels)
    return grown[0, 0].numpy() > 0.5


def grow_or_erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a boolean mask by `pixels`, or erode it by `-pixels` (its complement grown); raises InvalidRequest
    naming `edit.mask_grow` when eroding leaves nothing to repaint."""
    if pixels >= 0:
        return grow(mask, pixels)
    eroded = ~grow(~mask, -pixels)
    if not eroded.any():
        raise InvalidRequest("edit.mask_grow", f"is {pixels}: eroding by {-pixels} pixels leaves nothing to repaint")
    return eroded


def repaint_area(mask: Image.Image, image_size: tuple[int, int], edit) -> np.ndarray:
    """Where an inpaint `edit` repaints: its mask read (inverted if asked), then grown or eroded."""
    return grow_or_erode(mask_array(mask, image_size, invert=edit.mask_invert), edit.mask_grow)


def feather(grown: np.ndarray, pixels: int) -> np.ndarray:
    """Paste weights in [0, 1]: the grown mask blurred by `pixels`, and exactly 0 wherever it is not set,
    so pasting with these weights never touches a pixel outside the grown mask."""
    weights = grown.astype(np.float32)
    if pixels > 0:
        blurred = Image.fromarray((weights * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(pixels / 2))
        weights = np.asarray(blurred, dtype=np.float32) / 255.0 * grown
    return weights


@dataclass(frozen=True)
class Crop:
    """The region worked on: `box` (left, top, right, bottom) in the image, sampled at `work_size`."""

    box: tuple[int, int, int, int]
    work_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]


def nearest_native(aspect: float, native_sizes) -> tuple[int, int]:
    return min(native_sizes, key=lambda size: abs(math.log(size[0] / size[1]) - math.log(aspect)))


def work_size_for(size: tuple[int, int], limit: Limit, native_sizes) -> tuple[int, int]:
    """Sample at the image's own size when the model allows it, else at the native size of nearest aspect."""
    try:
        limit.check("width", size[0])
        limit.check("height", size[1])
        return size
    except InvalidRequest:
        return nearest_native(size[0] / size[1], native_sizes)


def crop_around(grown: np.ndarray, context: float, native_sizes) -> Crop:
    """The mask's bounding box widened by `context` x its longer side on every side, then to a native aspect."""
    height, width = grown.shape
    rows, cols = np.nonzero(grown)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    pad = context * max(right - left, bottom - top)
    box_w, box_h = (right - left) + 2 * pad, (bottom - top) + 2 * pad
    native = nearest_native(box_w / box_h, native_sizes)
    if box_w / box_h < native[0] / native[1]:
        box_w = box_h * native[0] / native[1]
    else:
        box_h = box_w * native[1] / native[0]
    box_w, box_h = min(width, max(1, round(box_w))), min(height, max(1, round(box_h)))
    x0 = int(np.clip(round((left + right) / 2 - box_w / 2), 0, width - box_w))
    y0 = int(np.clip(round((top + bottom) / 2 - box_h / 2), 0, height - box_h))
    return Crop((x0, y0, x0 + box_w, y0 + box_h), nearest_native(box_w / box_h, native_sizes))


def crop_inputs(image: Image.Image, grown: np.ndarray, crop: Crop) -> tuple[Image.Image, Image.Image]:
    """(image, mask) of the crop, resized to the work size, for the inpaint pipeline (mask white = repaint)."""
    work_image = image.crop(crop.box).resize(crop.work_size, Image.Resampling.LANCZOS)
    mask = Image.fromarray(grown.astype(np.uint8) * 255).crop(crop.box)
    return work_image, mask.resize(crop.work_size, Image.Resampling.BILINEAR).point(lambda v: 255 if v > 0 else 0)


def match_colours(generated: np.ndarray, original: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Shift each channel of `generated` so its mean over the `known` (unmasked) pixels equals the original's:
    undoes the VAE's small colour drift, so the pasted region does not show as a tinted patch."""
    if not known.any():
        return generated
    offset = (generated[known] - original[known]).mean(axis=0)
    return generated - offset


def paste_back(
    original: Image.Image, generated: Image.Image, crop: Crop, grown: np.ndarray, weights: np.ndarray
) -> Image.Image:
    """`generated` (the work-size result) resized into the crop and blended into `original` by `weights`;
    pixels where the weight is 0 (everything outside the grown mask) are copied from `original` unchanged."""
    base = np.asarray(original.convert("RGB")).copy()
    x0, y0, x1, y1 = crop.box
    region = base[y0:y1, x0:x1].astype(np.float32)
    new = np.asarray(generated.convert("RGB").resize(crop.size, Image.Resampling.LANCZOS), dtype=np.float32)
    new = match_colours(new, region, ~grown[y0:y1, x0:x1])
    weight = weights[y0:y1, x0:x1, None]
    blended = np.clip(np.rint(region * (1 - weight) + new * weight), 0, 255).astype(np.uint8)
    base[y0:y1, x0:x1] = np.where(weight > 0, blended, base[y0:y1, x0:x1])
    return Image.fromarray(base)
