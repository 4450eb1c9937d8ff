"""Input images (uploads, image prompts, masks): checked once at the boundary, stored by content hash.

A request refers to an input by the SHA-256 of its stored PNG, which is kept under `<output-dir>/inputs/`,
so a PNG's metadata can name its inputs and "Load parameters" can re-make it. Untrusted bytes are decoded
with limits on bytes and pixels, so a decompression bomb or a 100-megapixel upload is refused, not loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path

from PIL import Image

from studio.types import InvalidRequest

MAX_INPUT_BYTES = 20 * 1024 * 1024  # 20 MB (MiB): the one upload limit (API, UI and README say this)
# What the API takes as an input image: the common lossless and photo formats, decoded by Pillow's own code
# (no EPS, which Pillow hands to Ghostscript, and none of its rarely used decoders).
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_INPUT_PIXELS = 4096 * 4096
IMAGE_HASH = re.compile(r"^[0-9a-f]{64}$")
IMAGE_MODES = ("RGB", "RGBA", "L")


class ImageTooLarge(InvalidRequest):
    """An input over the byte or pixel limit (the HTTP API answers 413 rather than 422)."""


def check_pixels(field: str, width: int, height: int, max_pixels: int = MAX_INPUT_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(
            field,
            f"is {width}x{height} ({width * height / 1e6:.1f} megapixels); at most {max_pixels / 1e6:.1f} are allowed",
        )


def open_image(data: bytes, field: str, formats: tuple[str, ...] | None = None) -> Image.Image:
    """Open untrusted image bytes lazily, after checking their size, and check the pixel count from the
    header before a pixel is decoded; raise InvalidRequest (ImageTooLarge for limits) naming `field`."""
    if not data:
        raise InvalidRequest(field, "is empty (0 bytes)")
    if len(data) > MAX_INPUT_BYTES:
        raise ImageTooLarge(field, f"is {len(data) / 2**20:.1f} MB; at most {MAX_INPUT_BYTES // 2**20} MB are allowed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own pixel limit follows
            image = Image.open(io.BytesIO(data), formats=list(formats) if formats else None)
    except Image.DecompressionBombError:
        raise ImageTooLarge(field, f"decodes to more than {MAX_INPUT_PIXELS / 1e6:.1f} megapixels") from None
    except (OSError, ValueError, SyntaxError) as error:
        kind = " or ".join(formats) + " image" if formats else "image"
        raise InvalidRequest(field, f"is not a readable {kind} ({type(error).__name__})") from None
    check_pixels(field, *image.size)
    return image


def decode_image(data: bytes, field: str, formats: tuple[str, ...] | None = None) -> Image.Image:
    """Decode untrusted image bytes (of one of `formats`, any Pillow reads if None) into a loaded RGB/RGBA/L
    image, or raise InvalidRequest naming `field`."""
    image = open_image(data, field, formats)
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidRequest(field, f"is not a readable image ({type(error).__name__})") from None
    return as_input_mode(image)


def as_input_mode(image: Image.Image) -> Image.Image:
    if image.mode in IMAGE_MODES:
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


class InputStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def put(self, image: Image.Image) -> str:
        """Store an image (as PNG) and return its hash; storing the same pixels twice costs nothing."""
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        self._keep(digest, data)
        return digest

    def put_stored(self, digest: str, data: bytes) -> None:
        """Keep the PNG bytes another studio process stored under `digest` (17: an engine replica on another
        host gets a job's inputs this way); bytes that do not hash to `digest` are refused."""
        if hashlib.sha256(data).hexdigest() != digest:
            raise InvalidRequest("image", f"image {digest[:12]}… arrived damaged (its bytes do not match its hash)")
        self._keep(digest, data)

    def _keep(self, digest: str, data: bytes) -> None:
        path = self.path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".saving-")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.replace(temporary, path)
            finally:
                Path(temporary).unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        if not IMAGE_HASH.match(digest):
            raise InvalidRequest("image", f"'{digest[:80]}' is not an image hash (64 hex digits)")
        return self.root / digest[:2] / f"{digest}.png"

    def get(self, digest: str, field: str = "image") -> Image.Image:
        path = self.path(digest)
        if not path.is_file():
            raise InvalidRequest(field, f"image {digest[:12]}… is not in this studio's inputs folder")
        with Image.open(path) as image:
            image.load()
            return image.copy()
