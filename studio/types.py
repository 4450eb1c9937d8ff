"""Frozen data that crosses the studio's boundaries, with each field's limits declared beside it.

The limits are read by the UI widgets, the CLI and validation alike (`limit_of`), so they are stated once.
No torch import here: front ends and metadata readers use these types without loading a model.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field, fields, replace
from typing import Any

from studio.limits import InvalidRequest, Limit, check_text, echo
from studio.performance import PERFORMANCE_NAMES
from studio.schedulers import DEFAULT_SAMPLER, SAMPLER_NAMES

REQUEST_VERSION = 1
MAX_SEED = 2**63 - 1
EXPANSION_MODES = ("none", "local", "llm")


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


EDIT_KINDS = ("inpaint", "outpaint", "vary", "upscale")
# Inpaint modes -> (denoise strength, context around the mask as a fraction of the mask's box side).
# default: full repaint with wide context (Fooocus's 0.618 field); improve_detail: light denoise that keeps the
# shapes, tight crop so the region is worked at a higher resolution; modify_content: full repaint, tight crop.
INPAINT_MODES = {"default": (1.0, 0.618), "improve_detail": (0.4, 0.2), "modify_content": (1.0, 0.2)}
VARY_STRENGTHS = {"subtle": 0.5, "strong": 0.85}
# Upscale choices -> (scale, refine denoise); refine 0 = the 4x model alone (Fast 2x). 0.382 is Fooocus's.
UPSCALE_MODES = {"1.5": (1.5, 0.382), "2": (2.0, 0.382), "fast2": (2.0, 0.0)}
OUTPAINT_SIDES = ("left", "right", "top", "bottom")
# Edit outputs are not bound to the model's sampling grid (the work is done at a native size and mapped back).
EDIT_OUTPUT_LIMIT = Limit(16, 4096)
EDIT_OUTPUT_MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class EditSpec:
    """An input-image tool applied by the engine: images are named by input hash (see studio/inputs.py)."""

    kind: str = field(default="inpaint", metadata={"help": "inpaint, outpaint, vary or upscale"})
    image: str = field(default="", metadata={"help": "hash of the image to edit"})
    mask: str = field(default="", metadata={"help": "inpaint only: hash of the mask (white = repaint)"})
    inpaint_mode: str = field(default="default", metadata={"help": "default, improve_detail or modify_content"})
    mask_grow: int = _limited(8, Limit(0, 256), "pixels the mask (or outpaint seam) is grown by")
    mask_feather: int = _limited(8, Limit(0, 256), "pixels of soft edge when pasting back")
    outpaint_sides: tuple[str, ...] = field(default=(), metadata={"help": "any of left, right, top, bottom"})
    outpaint_size: float = _limited(0.3, Limit(0.05, 1.0), "added per side, as a fraction of the image side")
    vary_strength: str = field(default="subtle", metadata={"help": "subtle (0.5) or strong (0.85)"})
    upscale: str = field(default="2", metadata={"help": "1.5, 2 or fast2 (the upscale model only)"})
    inpaint_model: str = field(
        default="",
        metadata={"help": "inpaint/outpaint: 'base' (the base model's UNet) or the --inpaint-model used; '' = the studio's"},
    )

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["outpaint_sides"] = list(self.outpaint_sides)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> EditSpec:
        if not isinstance(data, dict):
            raise InvalidRequest("edit", "must be a JSON object or null")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(f"edit.{echo(unknown[0])}", "is not an edit field")
        values = {}
        for name, value in data.items():
            if name == "outpaint_sides":
                values[name] = _text_list("edit.outpaint_sides", value)
            else:
                values[name] = _coerce(f"edit.{name}", value, type(getattr(cls(), name)))
        return cls(**values).check()

    def check(self) -> EditSpec:
        """Raise InvalidRequest naming the `edit.<field>` that is wrong; return self."""
        for f in fields(self):
            if "limit" in f.metadata:
                f.metadata["limit"].check(f"edit.{f.name}", getattr(self, f.name))
        choices = {"kind": EDIT_KINDS, "inpaint_mode": INPAINT_MODES, "vary_strength": VARY_STRENGTHS, "upscale": UPSCALE_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InvalidRequest(f"edit.{name}", f"'{echo(getattr(self, name))}' is unknown; choose one of: {', '.join(allowed)}")
        if not self.image:
            raise InvalidRequest("edit.image", f"{self.kind} needs an input image")
        if self.kind == "inpaint" and not self.mask:
            raise InvalidRequest("edit.mask", "inpaint needs a mask (white where the image is repainted)")
        if self.kind != "inpaint" and self.mask:
            raise InvalidRequest("edit.mask", f"only inpaint uses a mask, not {self.kind}")
        bad = [side for side in self.outpaint_sides if side not in OUTPAINT_SIDES]
        if bad or len(set(self.outpaint_sides)) != len(self.outpaint_sides):
            raise InvalidRequest("edit.outpaint_sides", f"must be distinct names among: {', '.join(OUTPAINT_SIDES)}")
        if (self.kind == "outpaint") != bool(self.outpaint_sides):
            raise InvalidRequest("edit.outpaint_sides", "outpaint needs at least one side; other tools take none")
        return self


MAX_IMAGE_PROMPTS = 4
IMAGE_PROMPT_TYPES = ("ImagePrompt", "PyraCanny", "CPDS", "FaceSwap", "Depth", "Pose")
IMAGE_PROMPT_WEIGHT_LIMIT = Limit(0, 2)
IMAGE_PROMPT_STOP_LIMIT = Limit(0, 1)
# (weight, stop_at) of a new slot of each type: Fooocus's defaults for the first four.
IMAGE_PROMPT_DEFAULTS = {
    "ImagePrompt": (0.6, 0.5),
    "FaceSwap": (0.75, 0.9),
    "PyraCanny": (1.0, 0.5),
    "CPDS": (1.0, 0.5),
    "Depth": (1.0, 0.5),
    "Pose": (1.0, 0.5),
}


@dataclass(frozen=True)
class ImagePrompt:
    """One image-prompt slot: an input image (by hash, see inputs.py) steering the sampling as `type`.

    Build one with `ImagePrompt.of(image, type)` to get the type's default weight and stop-at."""

    image: str = field(default="", metadata={"help": "SHA-256 of the stored input image (see inputs.py)"})
    type: str = field(default="ImagePrompt", metadata={"help": f"one of {', '.join(IMAGE_PROMPT_TYPES)}"})
    weight: float = _limited(0.6, IMAGE_PROMPT_WEIGHT_LIMIT, "how strongly the image steers; 0 turns the slot off")
    stop_at: float = _limited(0.5, IMAGE_PROMPT_STOP_LIMIT, "fraction of the denoising after which it stops steering")
    skip_preprocess: bool = field(default=False, metadata={"help": "use the image as the control map as it is"})

    @classmethod
    def of(cls, image: str, type: str, weight: float | None = None, stop_at: float | None = None, skip_preprocess: bool = False) -> ImagePrompt:
        default_weight, default_stop = IMAGE_PROMPT_DEFAULTS.get(type, (1.0, 0.5))
        return cls(
            image=image,
            type=type,
            weight=default_weight if weight is None else weight,
            stop_at=default_stop if stop_at is None else stop_at,
            skip_preprocess=skip_preprocess,
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def image_prompt_limit(name: str) -> Limit:
    """The declared limit of an ImagePrompt field ('weight', 'stop_at'), for widgets and CLI help."""
    return next(f.metadata["limit"] for f in fields(ImagePrompt) if f.name == name)


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
    model: str = field(default="", metadata={"help": "the checkpoint that makes it, by name; '' = the loaded one"})
    styles: tuple[str, ...] = field(default=(), metadata={"help": "style names applied in order, see `styles`"})
    loras: tuple[LoraWeight, ...] = field(default=(), metadata={"help": f"up to {MAX_LORAS} LoRAs by name"})
    performance: str = field(default="Speed", metadata={"help": "performance mode, see `performance`"})
    image_prompts: tuple[ImagePrompt, ...] = field(
        default=(), metadata={"help": f"up to {MAX_IMAGE_PROMPTS} image-prompt slots (IP-Adapter, ControlNet, face)"}
    )
    edit: EditSpec | None = field(default=None, metadata={"help": "an input-image tool (inpaint, outpaint, vary, upscale)"})
    expansion: str = field(default="none", metadata={"help": "prompt expansion: none, local or llm"})

    def image_seed(self, index: int) -> int:
        return (self.seed + index) % (MAX_SEED + 1)

    def for_image(self, index: int) -> GenerationRequest:
        """The request that re-makes image `index` alone: its own seed, one image."""
        return replace(self, seed=self.image_seed(index), image_count=1)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["styles"] = list(self.styles)
        data["loras"] = [lora.to_dict() for lora in self.loras]
        data["image_prompts"] = [prompt.to_dict() for prompt in self.image_prompts]
        data["edit"] = None if self.edit is None else self.edit.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from untrusted JSON-like data: unknown keys and wrong types are errors, never guesses."""
        if not isinstance(data, dict):
            raise InvalidRequest("request", "must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidRequest(echo(unknown[0]), "is not a request field")
        values = {}
        for name, value in data.items():
            if name == "styles":
                values[name] = _text_list(name, value)
            elif name == "loras":
                values[name] = _loras(value)
            elif name == "image_prompts":
                values[name] = _image_prompts(value)
            elif name == "edit":
                values[name] = None if value is None else EditSpec.from_dict(value)
            else:
                values[name] = _coerce(name, value, type(getattr(cls(), name)))
        return cls(**values)


def _text_list(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(name, "must be a list of names")
    return tuple(check_text(f"{name}[{index}]", item) for index, item in enumerate(value))


def _loras(value: Any) -> tuple[LoraWeight, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidRequest("loras", "must be a list of {name, weight} objects")
    loras = []
    for index, item in enumerate(value):
        name = f"loras[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "weight"} or "name" not in item:
            raise InvalidRequest(name, "must be an object with 'name' and 'weight'")
        loras.append(
            LoraWeight(_coerce(f"{name}.name", item["name"], str), _coerce(f"{name}.weight", item.get("weight", 1.0), float))
        )
    return tuple(loras)


def _image_prompts(value: Any) -> tuple[ImagePrompt, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidRequest("image_prompts", "must be a list of {image, type, weight, stop_at, skip_preprocess} objects")
    known = {f.name for f in fields(ImagePrompt)}
    prompts = []
    for index, item in enumerate(value):
        name = f"image_prompts[{index}]"
        if not isinstance(item, dict) or "image" not in item or "type" not in item:
            raise InvalidRequest(name, "must be an object with at least 'image' and 'type'")
        unknown = sorted(set(item) - known)
        if unknown:
            raise InvalidRequest(f"{name}.{echo(unknown[0])}", "is not an image-prompt field")
        skip = item.get("skip_preprocess", False)
        if not isinstance(skip, bool):
            raise InvalidRequest(f"{name}.skip_preprocess", "must be true or false")
        weight, stop = item.get("weight"), item.get("stop_at")
        prompts.append(
            ImagePrompt.of(
                _coerce(f"{name}.image", item["image"], str),
                _coerce(f"{name}.type", item["type"], str),
                None if weight is None else _coerce(f"{name}.weight", weight, float),
                None if stop is None else _coerce(f"{name}.stop_at", stop, float),
                skip,
            )
        )
    return tuple(prompts)


def validate_image_prompts(prompts: tuple[ImagePrompt, ...]) -> None:
    """Check the slots: count, type, hash format and each number against its declared limit."""
    if len(prompts) > MAX_IMAGE_PROMPTS:
        raise InvalidRequest("image_prompts", f"has {len(prompts)} slots; at most {MAX_IMAGE_PROMPTS} are allowed")
    for index, prompt in enumerate(prompts):
        name = f"image_prompts[{index}]"
        if not isinstance(prompt, ImagePrompt):
            raise InvalidRequest(name, "must be an ImagePrompt")
        if prompt.type not in IMAGE_PROMPT_TYPES:
            raise InvalidRequest(f"{name}.type", f"'{echo(prompt.type)}' is unknown; choose one of: {', '.join(IMAGE_PROMPT_TYPES)}")
        if not (isinstance(prompt.image, str) and len(prompt.image) == 64 and all(c in "0123456789abcdef" for c in prompt.image)):
            raise InvalidRequest(f"{name}.image", "must be the hash (64 hex digits) of a stored input image")
        for f in fields(ImagePrompt):
            limit = f.metadata.get("limit")
            if limit is not None:
                value = getattr(prompt, f.name)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise InvalidRequest(f"{name}.{f.name}", "must be a number")
                limit.check(f"{name}.{f.name}", value)


def _coerce(name: str, value: Any, expected: type) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise InvalidRequest(name, f"must be {'a number' if expected in (int, float) else 'text'}")
    if isinstance(value, float) and not math.isfinite(value):  # JSON's NaN and Infinity, or 1e999
        raise InvalidRequest(name, "must be a finite number")
    if isinstance(value, str):
        check_text(name, value)
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
    _check_texts(request.to_dict())  # first: the messages below quote some of these values
    for f in fields(request):
        value = getattr(request, f.name)
        limit = size_limit if f.name in ("width", "height") else f.metadata.get("limit")
        if request.edit is not None and size_limit is not None and f.name in ("width", "height"):
            limit = EDIT_OUTPUT_LIMIT  # an edit's output size comes from its input image, not the model's grid
        if limit is not None:
            limit.check(f.name, value)
    if request.sampler not in SAMPLER_NAMES:
        raise InvalidRequest("sampler", f"'{echo(request.sampler)}' is unknown; choose one of: {', '.join(SAMPLER_NAMES)}")
    if len(request.styles) > MAX_STYLES:
        raise InvalidRequest("styles", f"has {len(request.styles)} styles; at most {MAX_STYLES} are allowed")
    if len(request.loras) > MAX_LORAS:
        raise InvalidRequest("loras", f"has {len(request.loras)} LoRAs; at most {MAX_LORAS} are allowed")
    for lora in request.loras:
        LORA_WEIGHT_LIMIT.check(f"loras.{echo(lora.name)}.weight", lora.weight)
    if request.expansion not in EXPANSION_MODES:
        raise InvalidRequest("expansion", f"'{echo(request.expansion)}' is unknown; choose one of: {', '.join(EXPANSION_MODES)}")
    if request.edit is not None:
        request.edit.check()
    validate_image_prompts(request.image_prompts)
    if request.performance not in PERFORMANCE_NAMES:
        raise InvalidRequest(
            "performance", f"'{echo(request.performance)}' is unknown; choose one of: {', '.join(PERFORMANCE_NAMES)}"
        )
    return request


def _check_texts(data: Any, name: str = "") -> None:
    """Every text in a request's data (`to_dict()`) must be writable as UTF-8; the error names its place,
    e.g. `styles[2]` or `edit.image`."""
    if isinstance(data, str):
        check_text(name, data)
    elif isinstance(data, dict):
        for key, value in data.items():
            _check_texts(value, f"{name}.{key}" if name else key)
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            _check_texts(value, f"{name}[{index}]")


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
    # Tiled work (upscale): tile `tile` (1-based) of `tiles` in `phase` ("upscaling", "refining"); 0 = untiled.
    # A denoised phase counts step/total_steps over all its tiles; a phase without steps has total_steps 0.
    tile: int = 0
    tiles: int = 0
    phase: str = ""


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
