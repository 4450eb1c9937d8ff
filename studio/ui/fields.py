"""Widget values <-> GenerationRequest, by field name. No gradio here, so every rule is testable alone.

The UI's settings widgets are named by the keys of `FIELD_NAMES`; a handler receives their values as a
dict and turns it into a request with `request_from_values`. `values_from_request` goes the other way
(load parameters from a PNG). Limits are not restated here: validation (`studio.types`) owns them.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.inputs import InputStore
from studio.outputs import read_request
from studio.performance import PERFORMANCE_NAMES
from studio.schedulers import SAMPLER_NAMES, SCHEDULE_NAMES
from studio.types import (
    EXPANSION_MODES,
    GUIDANCE_FIELDS,
    MAX_LORAS,
    OUTPUT_FORMATS,
    TRANSLATE_MODES,
    GenerationRequest,
    InvalidRequest,
    LoraWeight,
    ModelInfo,
    random_seed,
)
from studio.ui.guidance_fields import guidance_from_values, guidance_values
from studio.ui.input_fields import INPUT_FIELD_NAMES, inputs_from_values
from studio.ui.model_files import refiner_from_widget, refiner_widget_value, vae_from_widget, vae_widget_value

NO_LORA = "None"  # an empty LoRA slot
# (name widget, weight widget) of each LoRA slot, as settings names: ("lora_1", "lora_1_weight"), ...
LORA_SLOTS = tuple((f"lora_{i}", f"lora_{i}_weight") for i in range(1, MAX_LORAS + 1))

# The settings a user edits, in the order a person reads them; handlers look values up by these names.
# `expanded_prompt`: when it holds text, that text is the prompt as it is and no expansion runs.
FIELD_NAMES = (
    "prompt",
    "expanded_prompt",
    "expansion",
    "negative_prompt",
    "performance",
    "image_count",
    "seed",
    "random_seed",
    "aspect_ratio",
    "steps",
    "cfg_scale",
    "sampler",
    "styles",
    "model",  # the base model (checkpoint) by name; switched to when the job runs
    *(name for slot in LORA_SLOTS for name in slot),
    *GUIDANCE_FIELDS,  # 15A: named as the request fields
    "output_format",  # 15D: the saved file's format and JPEG/WebP quality
    "output_quality",
    "scheduler",  # 15B: the noise schedule (Advanced tab)
    "vae",  # 15B: the VAE by name (Models tab)
    "refiner",  # 15B: the refiner checkpoint by name, and where it takes over (Models tab)
    "refiner_switch",
    "translate",  # 18: off, auto or always; the page starts on auto
    "disable_seed_increment",  # 15c: Advanced
    "wildcards_in_order",  # 15c: Advanced
)
_SIZE_VALUE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")


def size_value(width: int, height: int) -> str:
    """The aspect-ratio widget's value for a size: `"1152x896"`."""
    return f"{width}x{height}"


def size_label(width: int, height: int) -> str:
    """What a person reads: `"1152×896 (9:7)"`, the ratio reduced."""
    divisor = math.gcd(width, height)
    return f"{width}×{height} ({width // divisor}:{height // divisor})"


def aspect_ratio_choices(info: ModelInfo) -> list[tuple[str, str]]:
    """(label, value) pairs for the model's native sizes, in the model's order."""
    return [(size_label(w, h), size_value(w, h)) for w, h in info.native_sizes]


def parse_size(value: Any) -> tuple[int, int]:
    match = _SIZE_VALUE.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidRequest("aspect_ratio", f"{value!r} is not a size like '1024x1024'")
    return int(match.group(1)), int(match.group(2))


def parse_seed(value: Any) -> int:
    """The seed widget is text: seeds reach 2**63, beyond what a browser's numbers hold exactly."""
    if isinstance(value, bool):
        raise InvalidRequest("seed", "must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value if value is not None else "").strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise InvalidRequest("seed", f"{text!r} is not a whole number")
    return int(text)


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(name, "must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidRequest(name, f"is {value:g}; it must be a whole number")
        return int(value)
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(name, "must be a number")
    return float(value)


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(name, "must be text")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(name, "must be on or off")
    return value


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRequest(name, f"'{value}' is unknown; choose one of: {', '.join(allowed)}")
    return value


def _names(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(name, "must be a list of names")
    return tuple(value)


def loras_from_values(values: dict[str, Any]) -> tuple[LoraWeight, ...]:
    """The filled LoRA slots, in slot order (a slot set to NO_LORA or left empty is skipped)."""
    loras = []
    for name_field, weight_field in LORA_SLOTS:
        name = values.get(name_field) or NO_LORA
        if name != NO_LORA:
            loras.append(LoraWeight(_text(name_field, name), _number(weight_field, values.get(weight_field, 1.0))))
    return tuple(loras)


def lora_values(loras: tuple[LoraWeight, ...] | list[LoraWeight]) -> dict[str, Any]:
    """Every LoRA slot's widget values for these LoRAs: the first slots filled, the rest emptied."""
    if len(loras) > len(LORA_SLOTS):
        raise InvalidRequest("loras", f"has {len(loras)} LoRAs; at most {len(LORA_SLOTS)} are allowed")
    values: dict[str, Any] = {}
    for index, (name_field, weight_field) in enumerate(LORA_SLOTS):
        lora = loras[index] if index < len(loras) else None
        values[name_field] = lora.name if lora else NO_LORA
        values[weight_field] = lora.weight if lora else LoraWeight.weight
    return values


def default_values(info: ModelInfo) -> dict[str, Any]:
    """The widgets' starting values: the request's declared defaults at the model's default size."""
    request = GenerationRequest(width=info.default_size[0], height=info.default_size[1], model=info.name)
    return {**values_from_request(request), "random_seed": True, "translate": "auto"}


def request_from_values(
    values: dict[str, Any], info: ModelInfo, inputs: InputStore | None = None
) -> GenerationRequest:
    """A request from widget values named as in `FIELD_NAMES` (and the Input Image panel's, named as in
    `input_fields.INPUT_FIELD_NAMES`, whose images are stored in `inputs`). Missing names take the declared
    defaults; unknown names are an error (a typo must not silently drop a setting). With `random_seed` true
    a fresh seed is drawn, so the returned request is the resolved one that gets recorded. Not validated
    against limits here: `Engine.validate` does that, with the loaded model's size limit."""
    unknown = sorted(set(values) - set(FIELD_NAMES) - set(INPUT_FIELD_NAMES))
    if unknown:
        raise InvalidRequest(unknown[0], "is not a settings field")
    panel = inputs_from_values({k: v for k, v in values.items() if k in INPUT_FIELD_NAMES}, inputs)
    values = {k: v for k, v in values.items() if k in FIELD_NAMES}
    merged = {**default_values(info), **values}
    width, height = parse_size(merged["aspect_ratio"])
    seed = random_seed() if merged["random_seed"] else parse_seed(merged["seed"])
    sampler = _choice("sampler", merged["sampler"], SAMPLER_NAMES)
    expanded = _text("expanded_prompt", merged["expanded_prompt"]).strip()
    return GenerationRequest(
        # an edited expansion is used exactly as shown: it is the prompt, and nothing expands it again
        prompt=expanded or _text("prompt", merged["prompt"]),
        expansion="none" if expanded else _choice("expansion", merged["expansion"], EXPANSION_MODES),
        negative_prompt=_text("negative_prompt", merged["negative_prompt"]),
        seed=seed,
        image_count=_whole("image_count", merged["image_count"]),
        width=width,
        height=height,
        steps=_whole("steps", merged["steps"]),
        cfg_scale=_number("cfg_scale", merged["cfg_scale"]),
        sampler=sampler,
        model=_text("model", merged["model"]),
        styles=_names("styles", merged["styles"]),
        loras=loras_from_values(merged),
        performance=_choice("performance", merged["performance"], PERFORMANCE_NAMES),
        **guidance_from_values(merged),
        output_format=_choice("output_format", merged["output_format"], OUTPUT_FORMATS),  # 15D
        output_quality=_whole("output_quality", merged["output_quality"]),
        scheduler=_choice("scheduler", merged["scheduler"], SCHEDULE_NAMES),
        vae=vae_from_widget(merged["vae"]),
        refiner=refiner_from_widget(merged["refiner"]),
        refiner_switch=_number("refiner_switch", merged["refiner_switch"]),
        translate=_choice("translate", merged["translate"], TRANSLATE_MODES),
        disable_seed_increment=_flag("disable_seed_increment", merged["disable_seed_increment"]),
        wildcards_in_order=_flag("wildcards_in_order", merged["wildcards_in_order"]),
        **panel,
    )


def values_from_request(request: GenerationRequest) -> dict[str, Any]:
    """Widget values that re-make `request` exactly (random seed off, so the recorded seed is used)."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "image_count": request.image_count,
        "seed": str(request.seed),
        "random_seed": False,
        "aspect_ratio": size_value(request.width, request.height),
        "steps": request.steps,
        "cfg_scale": request.cfg_scale,
        "sampler": request.sampler,
        "styles": list(request.styles),  # a recorded (resolved) request has none: its prompt is already styled
        "performance": request.performance,
        "expansion": request.expansion,  # likewise "none" once resolved: the prompt holds the expansion
        "expanded_prompt": "",
        "translate": request.translate,  # "off" once resolved: the recorded prompt is the English one
        "model": request.model,
        **lora_values(request.loras),
        **guidance_values(request),
        "output_format": request.output_format,  # 15D
        "output_quality": request.output_quality,
        "scheduler": request.scheduler,
        "vae": vae_widget_value(request.vae),
        "refiner": refiner_widget_value(request.refiner),
        "refiner_switch": request.refiner_switch,
        "disable_seed_increment": request.disable_seed_increment,
        "wildcards_in_order": request.wildcards_in_order,
    }


def loadable_values(
    request: GenerationRequest,
    info: ModelInfo,
    lora_names: tuple[str, ...] | None = None,
    model_names: tuple[str, ...] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Values to put into the widgets for a request read from a PNG, and warnings about what could not be
    applied as recorded (a size `info`'s model does not offer, a sampler this studio does not know, a model
    not among `model_names`, by default `info`'s); those widgets keep their current values. LoRAs missing
    from `lora_names` (the loras folder) are left out. `info` is the model the image will be re-made with."""
    warnings = []
    if lora_names is not None:
        missing = [lora.name for lora in request.loras if lora.name not in lora_names]
        if missing:
            warnings.append(f"The LoRA(s) {', '.join(missing)} are not in the loras folder; they were left out.")
            request = replace(request, loras=tuple(lora for lora in request.loras if lora.name in lora_names))
    values = values_from_request(request)
    if request.edit is not None:  # an edit's size is its input image's: the aspect ratio is not used
        del values["aspect_ratio"]
    elif (request.width, request.height) not in info.native_sizes:
        warnings.append(
            f"The image is {request.width}×{request.height}, not one of this model's sizes; the size was left as is."
        )
        del values["aspect_ratio"]
    if request.sampler not in SAMPLER_NAMES:
        warnings.append(f"The sampler '{request.sampler}' is unknown here; the sampler was left as it is.")
        del values["sampler"]
    if request.scheduler not in SCHEDULE_NAMES:
        warnings.append(f"The scheduler '{request.scheduler}' is unknown here; the scheduler was left as it is.")
        del values["scheduler"]
    if request.model not in (model_names if model_names is not None else (info.name,)):
        if request.model:
            warnings.append(
                f"The image was made with '{request.model}', which is not available here (see the Models tab); "
                "the base model was left as it is, so it will look different."
            )
        del values["model"]
    return values, warnings


def load_values(
    image: str | Path,
    info: ModelInfo,
    lora_names: tuple[str, ...] | None = None,
    model_names: tuple[str, ...] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """`loadable_values` of the request recorded in a studio PNG; InvalidRequest if it has none."""
    return loadable_values(read_request(image), info, lora_names, model_names)
