"""The A1111 `parameters` line written beside the studio's JSON, in the form Civitai and A1111 read:

    a prompt <lora:name:0.8>
    Negative prompt: ...
    Steps: 30, Sampler: DPM++ 2M SDE Karras, CFG scale: 7, Seed: 1, Size: 1024x1024, Model hash: 0123456789,
    Model: name, Lora hashes: "name: 0123456789ab", Version: sdxl-studio 0.1.0

(the settings on one line). Model hash is A1111's AutoV2 (the first 10 hex digits of the file's SHA-256),
LoRA hashes the first 12 (A1111's `shorthash`). Hashes are taken once per file and kept while the file's
size and modification time stay the same (in `<models-dir>/.cache/sha256.json` across restarts), so saving
an image never re-reads a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio import __version__
from studio.types import GenerationRequest, InvalidRequest

MODEL_HASH_LENGTH = 10
LORA_HASH_LENGTH = 12
VERSION = f"sdxl-studio {__version__}"
_CHUNK_BYTES = 8 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
HASH_CACHE = Path(".cache") / "sha256.json"  # under the models folder

log = logging.getLogger(__name__)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class FileHashes:
    """SHA-256 of files, each read once; kept while the file's size and modification time are unchanged,
    across restarts too when `cache_file` is given (a JSON file, like A1111's cache.json)."""

    def __init__(self, hash_file: Callable[[Path], str] = sha256_file, cache_file: Path | None = None):
        self._hash_file = hash_file
        self._cache_file = cache_file
        self._known: dict[str, str] = self._read_cache()
        self._lock = threading.Lock()

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        with self._lock:  # one hash per file even when two workers save at once
            if key not in self._known:
                self._known[key] = self._hash_file(path)
                self._write_cache()
            return self._known[key]

    def _read_cache(self) -> dict[str, str]:
        if self._cache_file is None:
            return {}
        try:
            data = json.loads(self._cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # none yet, or damaged: hashes are taken again
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v)}

    def _write_cache(self) -> None:
        if self._cache_file is None:
            return
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._cache_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(self._known, indent=0), encoding="utf-8")
            os.replace(temporary, self._cache_file)
        except OSError as error:  # a read-only models folder: hashes are still kept for this run
            log.warning("could not write the hash cache %s (%s)", self._cache_file, error)


@dataclass(frozen=True)
class ResourceHashes:
    """The files a request's model and LoRAs name (None where there is no single file, e.g. a diffusers
    folder or the tiny model), hashed through one shared `FileHashes`."""

    model_file: Callable[[str], Path | None]
    lora_file: Callable[[str], Path | None]
    files: FileHashes

    def model_hash(self, model: str) -> str | None:
        path = self.model_file(model) if model else None
        return self.files.sha256(path)[:MODEL_HASH_LENGTH] if path is not None else None

    def lora_hash(self, name: str) -> str | None:
        path = self.lora_file(name)
        return self.files.sha256(path)[:LORA_HASH_LENGTH] if path is not None else None


def services_hashes(manager, loras) -> ResourceHashes:
    """Hashes of the files behind a PipelineManager's checkpoint names and a LoraLibrary's LoRA names."""

    def model_file(name: str) -> Path | None:
        try:
            source = manager.source_for(name)
        except InvalidRequest:
            return None
        path = Path(source)
        if not path.is_file():
            path = manager.checkpoints.find(source) or manager.checkpoints.find(name)
        return path if path is not None and path.is_file() else None

    def lora_file(name: str) -> Path | None:
        try:
            return loras.path(name)
        except InvalidRequest:
            return None

    return ResourceHashes(model_file, lora_file, FileHashes(cache_file=Path(manager.settings.models_dir) / HASH_CACHE))


def quote(value: str) -> str:
    """A value as A1111 writes it: JSON-quoted when it holds a comma, colon, quote or line break."""
    return json.dumps(value, ensure_ascii=False) if any(c in value for c in ',:"\n') else value


def parameters_line(request: GenerationRequest, hashes: ResourceHashes | None = None) -> str:
    """The A1111 text of a resolved request; without `hashes` the hash entries are left out."""
    prompt = request.prompt + "".join(f" <lora:{lora.name}:{lora.weight:g}>" for lora in request.loras)
    lines = [prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    settings: dict[str, object] = {
        "Steps": request.steps,
        "Sampler": request.sampler,
        "CFG scale": f"{request.cfg_scale:g}",
        "Seed": request.seed,
        "Size": f"{request.width}x{request.height}",
    }
    model_hash = hashes.model_hash(request.model) if hashes is not None else None
    if model_hash:
        settings["Model hash"] = model_hash
    settings["Model"] = quote(request.model)
    if hashes is not None and request.loras:
        lora_hashes = [(lora.name, hashes.lora_hash(lora.name)) for lora in request.loras]
        known = ", ".join(f"{name.replace(',', '').replace(':', '')}: {value}" for name, value in lora_hashes if value)
        if known:
            settings["Lora hashes"] = json.dumps(known, ensure_ascii=False)
    settings["Version"] = VERSION
    lines.append(", ".join(f"{key}: {value}" for key, value in settings.items()))
    return "\n".join(lines)
