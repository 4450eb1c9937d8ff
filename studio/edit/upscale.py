"""Upscale: an ESRGAN-class 4x model (loaded with spandrel, safetensors only) enlarges the picture, it is
resized to 1.5x or 2x, then refined by low-denoise img2img over overlapping native-size tiles that are
colour-matched to their source and blended with linear ramps, so no tile border shows. Fast 2x stops after
the model. Each refine tile is encoded and decoded at the model's native size, so the VAE never sees the
whole large picture (the memory a tiled VAE would save is never spent). Both tile loops call `on_tile` before
each tile: the engine reports progress there and ends the work when Stop or Skip asks, so they act within a tile."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.types import EDIT_OUTPUT_LIMIT, EDIT_OUTPUT_MAX_PIXELS, UPSCALE_MODES, InvalidRequest

# on_tile(index, count) runs before each tile (index from 1): it reports progress and may raise to end the work.
OnTile = Callable[[int, int], None]

MODEL_TILE = 256  # pixels per side fed to the 4x model at once (bounds its memory on large pictures)
MODEL_TILE_OVERLAP = 16


def upscale_size(size: tuple[int, int], mode: str) -> tuple[int, int]:
    scale = UPSCALE_MODES[mode][0]
    width, height = round(size[0] * scale), round(size[1] * scale)
    if max(width, height) > EDIT_OUTPUT_LIMIT.high or width * height > EDIT_OUTPUT_MAX_PIXELS:
        raise InvalidRequest(
            "edit.upscale",
            f"{mode}x of {size[0]}x{size[1]} would be {width}x{height}; the studio makes at most "
            f"{EDIT_OUTPUT_LIMIT.high:g} pixels a side; upscale a smaller picture or choose 1.5",
        )
    return width, height


def load_upscaler(path: Path, device: str, dtype: torch.dtype):
    """A spandrel image model from a `.safetensors` file (spandrel reads safetensors without unpickling)."""
    import spandrel

    if Path(path).suffix.lower() != ".safetensors":
        raise ValueError(f"{path}: only .safetensors upscale models are loaded (pickled files can run code)")
    descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale < 2:
        raise ValueError(f"{path}: not a super-resolution model spandrel knows")
    descriptor.eval()
    if dtype == torch.float16 and descriptor.supports_half:
        descriptor.half()
    return descriptor


@torch.inference_mode()
def model_upscale(descriptor, image: Image.Image, on_tile: OnTile | None = None) -> Image.Image:
    """The model's xN enlargement, run over overlapping tiles that are averaged where they meet."""
    device, dtype = descriptor.device, descriptor.dtype
    source = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float().div(255)[None]
    scale, (height, width) = descriptor.scale, source.shape[-2:]
    total = torch.zeros(1, 3, height * scale, width * scale)
    count = torch.zeros(1, 1, height * scale, width * scale)
    tiles = list(_tiles((width, height), (MODEL_TILE, MODEL_TILE), MODEL_TILE_OVERLAP))
    for index, (y0, x0, th, tw) in enumerate(tiles, start=1):
        if on_tile is not None:
            on_tile(index, len(tiles))
        tile = source[..., y0 : y0 + th, x0 : x0 + tw].to(device, dtype)
        result = descriptor(tile).float().cpu().clamp(0, 1)
        total[..., y0 * scale : (y0 + th) * scale, x0 * scale : (x0 + tw) * scale] += result
        count[..., y0 * scale : (y0 + th) * scale, x0 * scale : (x0 + tw) * scale] += 1
    out = (total / count)[0].permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()
    return Image.fromarray(out)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _tiles(size: tuple[int, int], tile: tuple[int, int], overlap: int):
    """(top, left, height, width) of tiles covering `size`, each at most `tile`, overlapping >= `overlap`."""
    tw, th = min(tile[0], size[0]), min(tile[1], size[1])
    for y0 in _starts(size[1], th, overlap):
        for x0 in _starts(size[0], tw, overlap):
            yield y0, x0, th, tw


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """Blend weights along one tile side: rising over `overlap` pixels where another tile overlaps."""
    weights = np.ones(length, dtype=np.float32)
    steps = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    if not at_start:
        weights[:overlap] = np.minimum(weights[:overlap], steps)
    if not at_end:
        weights[length - overlap :] = np.minimum(weights[length - overlap :], steps[::-1])
    return weights


def refine_tiles(
    image: Image.Image, tile_size: tuple[int, int], multiple_of: int, refine, on_tile: OnTile | None = None
) -> Image.Image:
    """Run `refine(tile_image) -> tile_image` over overlapping tiles of `image` and blend the results.

    Tiles are `tile_size` (the model's native size) or the picture's side rounded down to `multiple_of`;
    overlaps are a quarter tile. Each refined tile is shifted to its source tile's mean colour before
    blending, so a tile that drifted brighter or darker cannot leave a visible square."""
    width, height = image.size
    grid = multiple_of or 8
    tile = (max(grid, min(tile_size[0], width) // grid * grid), max(grid, min(tile_size[1], height) // grid * grid))
    overlap = max(1, min(tile) // 4)
    source = np.asarray(image.convert("RGB"), dtype=np.float32)
    total = np.zeros_like(source)
    weight_sum = np.zeros(source.shape[:2] + (1,), dtype=np.float32)
    tiles = list(_tiles((width, height), tile, overlap))
    for index, (y0, x0, th, tw) in enumerate(tiles, start=1):
        if on_tile is not None:
            on_tile(index, len(tiles))
        piece = source[y0 : y0 + th, x0 : x0 + tw]
        refined = np.asarray(
            refine(Image.fromarray(piece.astype(np.uint8))).convert("RGB").resize((tw, th)), dtype=np.float32
        )
        refined = refined - (refined.mean(axis=(0, 1)) - piece.mean(axis=(0, 1)))
        weights = np.outer(
            _ramp(th, min(overlap, th), y0 == 0, y0 + th >= height),
            _ramp(tw, min(overlap, tw), x0 == 0, x0 + tw >= width),
        )[..., None]
        total[y0 : y0 + th, x0 : x0 + tw] += refined * weights
        weight_sum[y0 : y0 + th, x0 : x0 + tw] += weights
    return Image.fromarray(np.clip(np.rint(total / np.maximum(weight_sum, 1e-6)), 0, 255).astype(np.uint8))
