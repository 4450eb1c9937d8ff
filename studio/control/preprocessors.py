"""Control maps made from an input image with OpenCV: PyraCanny (multi-scale edges) and CPDS (structure).

Each takes and returns a PIL image; maps are RGB (three equal channels), as ControlNets expect, 0-255.
Pure functions of their input: the same image always gives the same map.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Image pyramid scales, coarse to full: coarse levels keep the large outlines, the full level the detail.
PYRAMID_SCALES = (0.25, 0.35, 0.5, 0.7, 1.0)
CANNY_LOW, CANNY_HIGH = 64, 160
CPDS_SIGMA = 0.8
CPDS_PERCENTILES = (4.0, 96.0)


def fit_to_size(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale `image` to cover width x height and crop the centre: the map lines up with the output."""
    image = image.convert("RGB")
    scale = max(width / image.width, height / image.height)
    resized = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))), Image.LANCZOS
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def _rgb_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _as_map(values: np.ndarray) -> Image.Image:
    gray = np.clip(values, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1), "RGB")


def _edges(rgb: np.ndarray) -> np.ndarray:
    """Canny on each colour channel (edges between equally bright colours count too), strongest kept; 0..1."""
    import cv2

    channels = [cv2.Canny(np.ascontiguousarray(rgb[..., c]), CANNY_LOW, CANNY_HIGH, L2gradient=True) for c in range(3)]
    return np.maximum.reduce(channels).astype(np.float32) / 255.0


def pyracanny(image: Image.Image) -> Image.Image:
    """Canny edges over an image pyramid, blended and normalised by a high percentile.

    Each level is shrunk with area averaging (so noise and texture fade at coarse levels), edge-detected and
    scaled back up; coarse levels come back as soft wide strokes for the main outlines, the full level adds
    crisp detail. The sum is divided by the 95th percentile of its non-zero values so a photo with few edges
    and one with many both use the full range; a flat image stays black."""
    import cv2

    rgb = _rgb_array(image)
    height, width = rgb.shape[:2]
    total = np.zeros((height, width), np.float32)
    for scale in PYRAMID_SCALES:
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        level = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        edges = _edges(level)
        if edges.shape != total.shape:
            edges = cv2.resize(edges, (width, height), interpolation=cv2.INTER_LINEAR)
        total += edges
    nonzero = total[total > 1e-6]
    if nonzero.size == 0:
        return _as_map(total)
    high = max(float(np.percentile(nonzero, 95.0)), 1e-6)
    return _as_map(total / high * 255.0)


def cpds(image: Image.Image) -> Image.Image:
    """Contrast-preserving decolorization structure.

    A light Gaussian blur (sigma 0.8), then OpenCV's contrast-preserving decolorization (`cv2.decolor`),
    which gives a grayscale that keeps colour contrast and a colour-boosted image; the per-pixel colour
    distance between the blurred input and the boost image is added to the grayscale, and the sum is
    stretched so its 4th..96th percentiles span 0..255. A flat image gives an all-black map."""
    import cv2

    rgb = _rgb_array(image)
    blurred = cv2.GaussianBlur(rgb, (0, 0), CPDS_SIGMA)
    bgr = np.ascontiguousarray(blurred[..., ::-1])
    gray, boost_bgr = cv2.decolor(bgr)
    distance = np.linalg.norm(bgr.astype(np.float32) - boost_bgr.astype(np.float32), axis=-1)
    structure = gray.astype(np.float32) + distance
    low, high = np.percentile(structure, CPDS_PERCENTILES)
    if high - low < 1e-3:
        return _as_map(np.zeros_like(structure))
    return _as_map((structure - low) / (high - low) * 255.0)


def as_is(image: Image.Image) -> Image.Image:
    """The uploaded image used as the control map unchanged (the 'skip preprocessing' option)."""
    return image.convert("RGB")
