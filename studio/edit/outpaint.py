"""Outpaint: a larger canvas with the picture in place, the new area pre-filled from the edges, and the mask
of what the model paints (the new area plus a seam band reaching `seam` pixels into the picture)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from studio.types import OUTPAINT_SIDES


def added_pixels(size: tuple[int, int], sides, fraction: float) -> dict[str, int]:
    """Pixels added on each side: `fraction` of the picture's width (left/right) or height (top/bottom)."""
    width, height = size
    return {
        side: (max(1, round(fraction * (width if side in ("left", "right") else height))) if side in sides else 0)
        for side in OUTPAINT_SIDES
    }


def outpaint_size(size: tuple[int, int], sides, fraction: float) -> tuple[int, int]:
    add = added_pixels(size, sides, fraction)
    return size[0] + add["left"] + add["right"], size[1] + add["top"] + add["bottom"]


def extend_canvas(image: Image.Image, sides, fraction: float, seam: int) -> tuple[Image.Image, np.ndarray]:
    """(canvas, grown mask): the canvas has the picture in place and the new area filled by stretching the
    edge pixels outwards and blurring them (colours continue, detail does not); the mask is True on the new
    area and on a `seam`-pixel band of the picture next to it, so the join is repainted too."""
    add = added_pixels(image.size, sides, fraction)
    rgb = np.asarray(image.convert("RGB"))
    padded = np.pad(rgb, ((add["top"], add["bottom"]), (add["left"], add["right"]), (0, 0)), mode="edge")
    new_area = np.ones(padded.shape[:2], dtype=bool)
    new_area[add["top"] : add["top"] + rgb.shape[0], add["left"] : add["left"] + rgb.shape[1]] = False
    radius = max(add.values()) / 4
    blurred = np.asarray(Image.fromarray(padded).filter(ImageFilter.GaussianBlur(radius)))
    canvas = np.where(new_area[..., None], blurred, padded)
    grown = new_area.copy()
    if seam > 0:
        top, left = add["top"], add["left"]
        bottom, right = top + rgb.shape[0], left + rgb.shape[1]
        for side, reach in add.items():
            if not reach:
                continue
            if side == "left":
                grown[:, left : left + seam] = True
            elif side == "right":
                grown[:, max(left, right - seam) : right] = True
            elif side == "top":
                grown[top : top + seam, :] = True
            else:
                grown[max(top, bottom - seam) : bottom, :] = True
    return Image.fromarray(canvas), grown
