"""Frozen data that crosses the studio's boundaries, with each field's limits declared beside it.

The limits are read by the UI widgets, the CLI and validation alike (`limit_of`), so they are stated once.
No torch import here: front ends and metadata readers use these types without loading a model.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field, fields, replace
from typing import Any

from studio.performance import PERFORMANCE_NAMES
from studio.schedulers import DEFAULT_SAMPLER, SAMPLER_NAMES

REQUEST_VERSION = 1
MAX_SEED = 2**63 - 1


class InvalidRequest(ValueError):
    """Bad input, named by its field and the limit it broke; front ends show it as it is."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Limit:
    """Inclusive bounds of a number (`low`..`high`, on a grid of `multiple_of`) or a string's length (`high`)."""

    low: float = 0
    high: float = math.inf
    multiple_of: int | None = None

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str):
            if len(value) > self.high:
                raise InvalidRequest(name, f"is {len(value)} characters long; at most {int(self.high)} are allowed")
            return
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(name, f"must be a finite number between {self.low:g} and {self.high:g}")
        if not self.low <= value <= self.high:
            raise InvalidRequest(name, f"is {value:g}; it must be between {self.low:g} and {self.high:g}")
        if self.multiple_of and value % self.multiple_of:
            raise InvalidRequest(name, f"is {value:g}; it must be a multiple of {self.multiple_of}")


def _limited(default: Any, limit: Limit, help: str) -> Any:
    return field(default=default, metadata={"limit": limit, "help": help})


# Real SDXL checkpoints work from 512 to 2048 pixels a side; models may narrow or widen this (see ModelInfo).
SDXL_SIZE_LIMIT = Limit(512, 2048, multiple_of=8)


MAX_LORAS = 5
MAX_STYLES = 32
LORA_WEIGHT_LIMIT = Limit(-2, 2)


@dataclass(frozen=True)
class LoraWeight:
    """A LoRA from the loras folder, chosen by name (never by path), and its weight."""

    name: str
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight}


@dataclass(frozen=True)
class GenerationRequest:
    """Everything needed to make (and re-make) a set of images; what the PNG metadata records."""

    prompt: str = _limited("", Limit(high=4000), "what to draw")
    negative_prompt: str = _limited("", Limit(high=4000), "what to avoid")
    seed: int = _limited(0, Limit(0, MAX_SEED), "image i of the request uses seed + i")
    image_count: int = _limited(1, Limit(1, 32), "how many images to make")
    width: int = _limited(1024, SDXL_SIZE_LIMIT, "image width in pixels")
    height: int = _limited(1024, SDXL_SIZE_LIMIT, "image height in pixels")
    steps: int = _limited(30, Limit(1, 150), "denoising steps")
    cfg_scale: float = _limited(7.0, Limit(0, 30), "classifier-free guidance scale")
    sampler: str = field(default=DEFAULT_SAMPLER, metadata={"help": "sampler name, see `samplers`"})
    model: str = field(default="", metadata={"help": "the checkpoint that made the image"})
    styles: tuple[str, ...] = field(default=(), metadata={"help": "style names applied in order, see `styles`"})
    loras: tuple[LoraWeight, ...] = field(default=(), metadata={"help": f"up to {MAX_LORAS} LoRAs by name"})
    performance: str = field(default="Speed", metadata={"help": "performance mode, see `performance`"})

    def image_seed(self, index: int) -> int:
        return (self.seed + index) % (MAX_SEED + 1)

    def for_image(self, index: int) -> GenerationRequest:
        """The request that re-makes image `index` alone: its own seed, one image."""
        return replace(self, seed=self.image_seed(index), image_count=1)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["styles"] = list(self.styles)
        data["loras"] = [lora.to_dict() for lora in self.loras]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from untrusted JSON-like data: unknown keys and wrong types are errors, never guesses."""
        if not isinstance(data, dict):
            raise InvalidRequest("request", "must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidRequest(unknown[0], "is not a request field")
        values = {}
        for name, value in data.items():
            if name == "styles":
                values[name] = _text_list(name, value)
            elif name == "loras":
                values[name] = _loras(value)
            else:
                values[name] = _coerce(name, value, type(getattr(cls(), name)))
        return cls(**values)


def _text_list(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(name, "must be a list of names")
    return tuple(value)


def _loras(value: Any) -> tuple[LoraWeight, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidRequest("loras", "must be a list of {name, weight} objects")
    loras = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"name", "weight"} or "name" not in item:
            raise InvalidRequest("loras", "each LoRA must be an object with 'name' and 'weight'")
        loras.append(
            LoraWeight(_coerce("loras.name", item["name"], str), _coerce("loras.weight", item.get("weight", 1.0), float))
        )
    return tuple(loras)


def _coerce(name: str, value: Any, expected: type) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise InvalidRequest(name, f"must be {'a number' if expected in (int, float) else 'text'}")
    return value


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def limit_of(name: str) -> Limit:
    """The declared limit of a request field, for widgets and command-line help."""
    for f in fields(GenerationRequest):
        if f.name == name:
            return f.metadata["limit"]
    raise KeyError(name)


def validate_request(request: GenerationRequest, size_limit: Limit | None) -> GenerationRequest:
    """Check every field against its limit. `size_limit` is the loaded model's (tiny models allow small
    sizes); None checks everything but the size, before a model is loaded."""
    for f in fields(request):
        value = getattr(request, f.name)
        limit = size_limit if f.name in ("width", "height") else f.metadata.get("limit")
        if limit is not None:
            limit.check(f.name, value)
    if request.sampler not in SAMPLER_NAMES:
        raise InvalidRequest("sampler", f"'{request.sampler}' is unknown; choose one of: {', '.join(SAMPLER_NAMES)}")
    if len(request.styles) > MAX_STYLES:
        raise InvalidRequest("styles", f"has {len(request.styles)} styles; at most {MAX_STYLES} are allowed")
    if len(request.loras) > MAX_LORAS:
        raise InvalidRequest("loras", f"has {len(request.loras)} LoRAs; at most {MAX_LORAS} are allowed")
    for lora in request.loras:
        LORA_WEIGHT_LIMIT.check(f"loras.{lora.name}.weight", lora.weight)
    if request.performance not in PERFORMANCE_NAMES:
        raise InvalidRequest(
            "performance", f"'{request.performance}' is unknown; choose one of: {', '.join(PERFORMANCE_NAMES)}"
        )
    return request


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded checkpoint is, as front ends need to know it."""

    name: str
    source: str
    random_weights: bool
    size_limit: Limit
    # SDXL-native sizes (width, height) for the aspect-ratio list, scaled for this model.
    native_sizes: tuple[tuple[int, int], ...]
    device: str
    dtype: str

    @property
    def default_size(self) -> tuple[int, int]:
        square = [s for s in self.native_sizes if s[0] == s[1]]
        return square[0] if square else self.native_sizes[0]


@dataclass(frozen=True)
class ProgressEvent:
    image_index: int
    image_count: int
    step: int
    total_steps: int
    # A small RGB uint8 array (H, W, 3) approximating the current image, or None.
    preview: Any = None


@dataclass(frozen=True)
class GeneratedImage:
    image: Any  # PIL.Image.Image
    request: GenerationRequest  # re-makes this image alone (its own seed, one image)


@dataclass(frozen=True)
class GenerationResult:
    request: GenerationRequest
    images: tuple[GeneratedImage, ...]
    stopped: bool = False
    skipped: tuple[int, ...] = ()


@dataclass(frozen=True)
class ImageRecord:
    """A saved image: where it is and the request that re-makes it."""

    path: str
    seed: int
    width: int
    height: int
    request: GenerationRequest
    created: str = ""
