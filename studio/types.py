"""Frozen data that crosses the studio's boundaries, with each field's limits declared beside it.

The limits are read by the UI widgets, the CLI and validation alike (`limit_of`), so they are stated once.
No torch import here: front ends and metadata readers use these types without loading a model.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields, replace
from typing import Any

from studio.edit_spec import (  # noqa: F401  (re-exported: the request's parts are reached through this module)
    EDIT_KINDS,
    EDIT_OUTPUT_LIMIT,
    EDIT_OUTPUT_MAX_PIXELS,
    INPAINT_MODES,
    OUTPAINT_SIDES,
    UPSCALE_MODES,
    VARY_STRENGTHS,
    EditSpec,
)
from studio.enhance_spec import MAX_ENHANCE_REGIONS, EnhanceSpec  # 16: Enhance
from studio.image_prompt_spec import (  # noqa: F401
    IMAGE_PROMPT_DEFAULTS,
    IMAGE_PROMPT_STOP_LIMIT,
    IMAGE_PROMPT_TYPES,
    IMAGE_PROMPT_WEIGHT_LIMIT,
    MAX_IMAGE_PROMPTS,
    ImagePrompt,
    image_prompt_limit,
    image_prompts_from_json,
    validate_image_prompts,
)
from studio.limits import InvalidRequest, Limit, check_text, coerce, echo, limited, text_list
from studio.performance import PERFORMANCE_NAMES
from studio.schedulers import DEFAULT_SAMPLER, DEFAULT_SCHEDULE, SAMPLER_NAMES, schedule_problem

REQUEST_VERSION = 1
MAX_SEED = 2**63 - 1
OUTPUT_FORMATS = ("png", "jpeg", "webp")  # 15D: what studio.image_formats writes
EXPANSION_MODES = ("none", "local", "llm", "instruct")
# 18: translating a prompt to English before encoding: never, when it holds a non-Latin script, or always
TRANSLATE_MODES = ("off", "auto", "always")


# Real SDXL checkpoints work from 512 to 2048 pixels a side; models may narrow or widen this (see ModelInfo).
SDXL_SIZE_LIMIT = Limit(512, 2048, multiple_of=8)


MAX_LORAS = 5
MAX_STYLES = 32
LORA_WEIGHT_LIMIT = Limit(-2, 2)
SHARPNESS_LIMIT = Limit(0, 30)  # 15A
ADM_SCALE_LIMIT = Limit(0.1, 3)
FREEU_LIMIT = Limit(0, 3)


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

    prompt: str = limited("", Limit(high=4000), "what to draw")
    negative_prompt: str = limited("", Limit(high=4000), "what to avoid")
    seed: int = limited(0, Limit(0, MAX_SEED), "image i of the request uses seed + i")
    image_count: int = limited(1, Limit(1, 32), "how many images to make")
    width: int = limited(1024, SDXL_SIZE_LIMIT, "image width in pixels")
    height: int = limited(1024, SDXL_SIZE_LIMIT, "image height in pixels")
    steps: int = limited(30, Limit(1, 150), "denoising steps")
    cfg_scale: float = limited(7.0, Limit(0, 30), "classifier-free guidance scale")
    sampler: str = field(default=DEFAULT_SAMPLER, metadata={"help": "sampler name, see `samplers`"})
    model: str = field(default="", metadata={"help": "the checkpoint that makes it, by name; '' = the loaded one"})
    styles: tuple[str, ...] = field(default=(), metadata={"help": "style names applied in order, see `styles`"})
    loras: tuple[LoraWeight, ...] = field(default=(), metadata={"help": f"up to {MAX_LORAS} LoRAs by name"})
    performance: str = field(default="Speed", metadata={"help": "performance mode, see `performance`"})
    image_prompts: tuple[ImagePrompt, ...] = field(
        default=(), metadata={"help": f"up to {MAX_IMAGE_PROMPTS} image-prompt slots (IP-Adapter, ControlNet, face)"}
    )
    edit: EditSpec | None = field(default=None, metadata={"help": "an input-image tool (inpaint, outpaint, vary, upscale)"})
    expansion: str = field(default="none", metadata={"help": "prompt expansion: none, local, llm or instruct"})
    # 15A: the Fooocus look in the sampling loop (studio/sampling_guidance.py, studio/clip_skip.py). Every
    # default is neutral (no new code runs), so images made before these fields existed re-make exactly.
    sharpness: float = limited(0.0, SHARPNESS_LIMIT, "edge-preserving self-guidance on the predicted image; 0 = off, Fooocus 2")
    adm_scale_positive: float = limited(1.0, ADM_SCALE_LIMIT, "scale of the prompt's SDXL size conditioning; 1 = off, Fooocus 1.5")
    adm_scale_negative: float = limited(1.0, ADM_SCALE_LIMIT, "scale of the negative's SDXL size conditioning; 1 = off, Fooocus 0.8")
    adm_scale_end: float = limited(0.3, Limit(0, 1), "fraction of the steps after which the ADM scales stop")
    adaptive_cfg: float = limited(0.0, Limit(0, 30), "CFG mimicking: a CFG above this fades toward it over the steps; 0 = off, Fooocus 7")
    freeu_b1: float = limited(1.0, FREEU_LIMIT, "FreeU backbone scale, stage 1; all four FreeU values 1 = off")
    freeu_b2: float = limited(1.0, FREEU_LIMIT, "FreeU backbone scale, stage 2")
    freeu_s1: float = limited(1.0, FREEU_LIMIT, "FreeU skip-connection scale, stage 1")
    freeu_s2: float = limited(1.0, FREEU_LIMIT, "FreeU skip-connection scale, stage 2")
    clip_skip: int = limited(0, Limit(0, 10), "text-encoder layers skipped beyond SDXL's penultimate one; 0 = off")
    # 15D: the saved file's format. Left out of the recorded metadata while neutral (PNG), so a PNG is
    # byte-identical to one saved before these fields existed.
    output_format: str = field(
        default="png", metadata={"help": "saved file format: png, jpeg or webp", "omit_when_neutral": True}
    )
    output_quality: int = field(
        default=95,
        metadata={"limit": Limit(1, 100), "help": "JPEG/WebP quality (PNG is lossless)", "omit_when_neutral": True},
    )
    # 15B: the noise schedule apart from the sampler, and the VAE (textual-inversion embeddings are named in
    # the prompt: `embedding:name`). Neutral defaults: the sampler's own schedule, the checkpoint's own VAE.
    scheduler: str = field(
        default=DEFAULT_SCHEDULE, metadata={"help": "noise schedule, see `schedulers`; 'default' = the sampler's own"}
    )
    vae: str = field(default="", metadata={"help": "a VAE from <models-dir>/vae by name; '' = the checkpoint's own"})
    refiner: str = field(
        default="", metadata={"help": "a checkpoint of <models-dir>/checkpoints taking over at refiner_switch; '' = none"}
    )
    refiner_switch: float = limited(0.8, Limit(0.1, 1.0), "fraction of the steps after which the refiner takes over")
    # 16: Enhance, regions found by words re-painted after the image is made; None = no enhance (neutral)
    enhance: EnhanceSpec | None = field(
        default=None, metadata={"help": f"Enhance: up to {MAX_ENHANCE_REGIONS} regions found by words, each re-painted"}
    )
    # 18: translation to English by the local instruct model. A resolved request has translate "off" and records
    # the prompt as typed and its translation; neither is read again: the image is made from `prompt`.
    translate: str = field(default="off", metadata={"help": "translate to English first: off, auto (non-Latin scripts) or always"})
    original_prompt: str = limited("", Limit(high=4000), "the prompt as typed, when it was translated (a record)")
    english_prompt: str = limited("", Limit(high=4000), "its English translation (a record)")
    # 15c: how a request's images differ (neutral False: image i uses seed + i, wildcards picked by that seed)
    disable_seed_increment: bool = field(default=False, metadata={"help": "every image uses the seed itself, not seed + i"})
    wildcards_in_order: bool = field(
        default=False, metadata={"help": "image i takes line i of each __wildcard__ file, not a line picked by its seed"}
    )

    def image_seed(self, index: int) -> int:
        if self.disable_seed_increment:
            return self.seed
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
        data["enhance"] = None if self.enhance is None else self.enhance.to_dict()  # 16: Enhance
        for f in fields(self):  # 15D: such fields stay out while neutral, so the recorded JSON is unchanged
            if f.metadata.get("omit_when_neutral") and data[f.name] == f.default:
                del data[f.name]
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
                values[name] = text_list(name, value)
            elif name == "loras":
                values[name] = _loras(value)
            elif name == "image_prompts":
                values[name] = image_prompts_from_json(value)
            elif name == "edit":
                values[name] = None if value is None else EditSpec.from_dict(value)
            elif name == "enhance":  # 16: Enhance
                values[name] = None if value is None else EnhanceSpec.from_dict(value)
            else:
                values[name] = coerce(name, value, type(getattr(cls(), name)))
        return cls(**values)


# 15A: the sampling-loop fields above, in the order the UI's Advanced group and the CLI show them.
GUIDANCE_FIELDS = (
    "sharpness",
    "adm_scale_positive",
    "adm_scale_negative",
    "adm_scale_end",
    "adaptive_cfg",
    "freeu_b1",
    "freeu_b2",
    "freeu_s1",
    "freeu_s2",
    "clip_skip",
)
# Fooocus's own starting look, which the page starts with. A request that leaves these out stays neutral, so
# scripts, API clients and old PNGs keep making the images they made before.
FOOOCUS_LOOK = {"sharpness": 2.0, "adm_scale_positive": 1.5, "adm_scale_negative": 0.8, "adm_scale_end": 0.3, "adaptive_cfg": 7.0}


def _loras(value: Any) -> tuple[LoraWeight, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidRequest("loras", "must be a list of {name, weight} objects")
    loras = []
    for index, item in enumerate(value):
        name = f"loras[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "weight"} or "name" not in item:
            raise InvalidRequest(name, "must be an object with 'name' and 'weight'")
        loras.append(
            LoraWeight(coerce(f"{name}.name", item["name"], str), coerce(f"{name}.weight", item.get("weight", 1.0), float))
        )
    return tuple(loras)


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
    if (problem := schedule_problem(request.scheduler, request.sampler)) is not None:
        raise InvalidRequest("scheduler", problem)
    if len(request.styles) > MAX_STYLES:
        raise InvalidRequest("styles", f"has {len(request.styles)} styles; at most {MAX_STYLES} are allowed")
    if len(request.loras) > MAX_LORAS:
        raise InvalidRequest("loras", f"has {len(request.loras)} LoRAs; at most {MAX_LORAS} are allowed")
    for lora in request.loras:
        LORA_WEIGHT_LIMIT.check(f"loras.{echo(lora.name)}.weight", lora.weight)
    if request.expansion not in EXPANSION_MODES:
        raise InvalidRequest("expansion", f"'{echo(request.expansion)}' is unknown; choose one of: {', '.join(EXPANSION_MODES)}")
    if request.output_format not in OUTPUT_FORMATS:  # 15D
        raise InvalidRequest(
            "output_format", f"'{echo(request.output_format)}' is unknown; choose one of: {', '.join(OUTPUT_FORMATS)}"
        )
    if request.translate not in TRANSLATE_MODES:
        raise InvalidRequest("translate", f"'{echo(request.translate)}' is unknown; choose one of: {', '.join(TRANSLATE_MODES)}")
    if request.edit is not None:
        request.edit.check()
    validate_image_prompts(request.image_prompts)
    if request.enhance is not None:  # 16: Enhance
        request.enhance.check()
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
