"""Saved images: PNG (or JPEG/WebP) files with the request that re-makes them, written atomically; history;
reading back.

Each PNG carries two text chunks: `parameters` (the A1111 line format other tools read) and `studio`
(versioned JSON of the resolved request); JPEG and WebP carry the same two texts in EXIF and XMP (see
studio.image_formats). Reading back parses JSON and validates it; nothing is evaluated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from PIL import Image

from studio.a1111_line import ResourceHashes, parameters_line
from studio.auth import ANONYMOUS
from studio.image_formats import PARAMETERS_CHUNK, STUDIO_CHUNK, SUFFIXES, studio_text, write_image  # noqa: F401
from studio.types import REQUEST_VERSION, GenerationRequest, ImageRecord, InvalidRequest

MAX_METADATA_BYTES = 64 * 1024


def a1111_parameters(request: GenerationRequest, hashes: ResourceHashes | None = None) -> str:
    return parameters_line(request, hashes)


def studio_metadata(request: GenerationRequest) -> str:
    return json.dumps({"version": REQUEST_VERSION, "request": request.to_dict()}, ensure_ascii=False)


def parse_studio_metadata(text: str) -> GenerationRequest:
    if len(text) > MAX_METADATA_BYTES:
        raise InvalidRequest("metadata", f"is larger than {MAX_METADATA_BYTES} bytes")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRequest("metadata", f"is not valid JSON ({error.msg})") from None
    except (ValueError, RecursionError):  # a number of thousands of digits, or `[[[[...` thousands deep
        raise InvalidRequest("metadata", "holds a number too long or nesting too deep for a request") from None
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        raise InvalidRequest("metadata", "has no 'request' object")
    version = data.get("version")
    if version != REQUEST_VERSION:
        raise InvalidRequest("metadata", f"has version {version!r}; this studio reads version {REQUEST_VERSION}")
    return GenerationRequest.from_dict(data["request"])


def read_request(image: Image.Image | str | Path) -> GenerationRequest:
    """The request recorded in a studio PNG, JPEG or WebP (a path or an opened image)."""
    if not isinstance(image, Image.Image):
        try:
            with Image.open(image) as opened:
                return read_request(opened)
        except (OSError, Image.DecompressionBombError) as error:
            raise InvalidRequest("image", f"could not be read as a PNG, JPEG or WebP ({error})") from None
    text = studio_text(image)
    if not text:
        raise InvalidRequest("image", "has no studio metadata; only images saved by this studio can be loaded")
    return parse_studio_metadata(text)


def space_folder(owner: str) -> str | None:
    """The folder (under the outputs folder) that holds `owner`'s images, or None for the outputs folder
    itself. Logged-in identities (`user:<name>`, `token:<hash>`, which exist only when auth is on) each get
    their own; the anonymous owner and browser sessions (`ui:...`, each session its own owner only when auth
    is off) share the folder itself, as with one user.

    The name is the owner made file-system safe (readable in a listing) plus a hash of the exact owner id, so
    no two owners share a folder however their names sanitize, and no folder name is a date folder's."""
    if owner == ANONYMOUS or owner.startswith("ui:"):
        return None
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", owner).strip("-")[:32]
    return f"{readable}-{hashlib.sha256(owner.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


_SAVED_SUFFIXES = frozenset(SUFFIXES.values())


class OutputStore:
    def __init__(self, root: Path | str, hashes: ResourceHashes | None = None):
        self.root = Path(root)
        self.hashes = hashes  # model and LoRA file hashes for the A1111 line; None leaves them out

    def space(self, owner: str) -> OutputStore:
        """The store of `owner`'s own images (see `space_folder`): what it saves, only its history lists."""
        folder = space_folder(owner)
        return self if folder is None else OutputStore(self.root / folder, self.hashes)

    def parameters_line(self, request: GenerationRequest) -> str:
        return a1111_parameters(request, self.hashes)

    def save(self, image: Image.Image, request: GenerationRequest, when: datetime | None = None) -> ImageRecord:
        """Write `<root>/YYYY-MM-DD/<HH-MM-SS>_<seed>.png` (or .jpg/.webp, the request's `output_format`)
        atomically: a crash never leaves half a file."""
        when = when or datetime.now()
        folder = self.root / when.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        suffix = SUFFIXES[request.output_format]
        parameters = self.parameters_line(request)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".saving-", suffix=suffix)
        try:
            with os.fdopen(handle, "wb") as file:
                write_image(file, image, request.output_format, request.output_quality, parameters, studio_metadata(request))
                file.flush()
                os.fsync(file.fileno())
            path = self._publish(Path(temporary), folder, f"{when.strftime('%H-%M-%S')}_{request.seed}", suffix)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return ImageRecord(str(path), request.seed, image.width, image.height, request, when.isoformat(timespec="seconds"))

    def save_sheet(self, image: Image.Image, stem: str, when: datetime | None = None) -> str:
        """A picture made from saved images (a comparison sheet): beside them, atomically, without request
        metadata of its own (its parts carry theirs), so History leaves it out."""
        when = when or datetime.now()
        folder = self.root / when.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".saving-", suffix=".png")
        try:
            with os.fdopen(handle, "wb") as file:
                image.save(file, format="PNG")
            return str(self._publish(Path(temporary), folder, f"{when.strftime('%H-%M-%S')}_{stem}"))
        finally:
            Path(temporary).unlink(missing_ok=True)

    @staticmethod
    def _publish(temporary: Path, folder: Path, stem: str, suffix: str = ".png") -> Path:
        """Give the finished file its name; a hard link never replaces an image saved the same second."""
        for n in range(10_000):
            path = folder / (f"{stem}{suffix}" if n == 0 else f"{stem}_{n}{suffix}")
            try:
                os.link(temporary, path)
                return path
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links: the name check and rename race, rarely
                if not path.exists():
                    os.replace(temporary, path)
                    return path
        raise FileExistsError(f"no free file name for {stem} in {folder}")

    def history(self, limit: int = 200) -> list[ImageRecord]:
        """Saved studio images, newest first; files without readable metadata are left out."""
        paths = sorted(
            (p for p in self.root.glob("*/*") if p.suffix in _SAVED_SUFFIXES and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        records = []
        for path in paths[:limit]:
            try:
                with Image.open(path) as image:
                    request = read_request(image)
                    size = image.size
            except (InvalidRequest, OSError):
                continue
            created = datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
            records.append(ImageRecord(str(path), request.seed, size[0], size[1], request, created))
        return records
