"""Image-prompt slots (`ImagePrompt`): an input image steering the sampling, with each field's limit."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from studio.limits import InvalidRequest, Limit, coerce, echo, limited

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
    weight: float = limited(0.6, IMAGE_PROMPT_WEIGHT_LIMIT, "how strongly the image steers; 0 turns the slot off")
    stop_at: float = limited(0.5, IMAGE_PROMPT_STOP_LIMIT, "fraction of the denoising after which it stops steering")
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


def image_prompts_from_json(value: Any) -> tuple[ImagePrompt, ...]:
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
                coerce(f"{name}.image", item["image"], str),
                coerce(f"{name}.type", item["type"], str),
                None if weight is None else coerce(f"{name}.weight", weight, float),
                None if stop is None else coerce(f"{name}.stop_at", stop, float),
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
