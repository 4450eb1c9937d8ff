"""What a person reads when something goes wrong: one sentence naming the field by its label on the page, with
no exception class names and no server paths. No gradio here.

Errors name fields as requests do (`seed`, `edit.mask`, `image_prompts[0].weight`); the page calls them
"Seed", "Inpaint mask", "Image prompt 1 weight". Job failures arrive as text ("seed: ..."), so text whose
first word is a field name is relabelled the same way.

Each sentence comes in the page's language (`locale`, see `studio.translations`): the field as the page labels
it in that language, and what is wrong with it where the catalogue has that sentence (else in English).
"""

from __future__ import annotations

import re

from studio.translations import ENGLISH, fill, translate
from studio.types import InvalidRequest
from studio.ui.enhance_fields import ENHANCE_FIELD_LABELS  # 16
from studio.ui.guidance_fields import GUIDANCE_LABELS
from studio.user_errors import is_user_error

FIELD_LABELS = {
    "prompt": "Prompt",
    "expanded_prompt": "Expanded prompt",
    "expansion": "Expansion",
    "translate": "Translate to English",
    "negative_prompt": "Negative prompt",
    "performance": "Performance",
    "image_count": "Image count",
    "seed": "Seed",
    "random_seed": "Random seed",
    "aspect_ratio": "Aspect ratio",
    "size": "Aspect ratio",
    "width": "Aspect ratio (width)",
    "height": "Aspect ratio (height)",
    "steps": "Steps",
    "cfg_scale": "Guidance (CFG)",
    "sampler": "Sampler",
    "styles": "Styles",
    "model": "Base model",
    "loras": "LoRAs",
    "samplers": "Samplers",
    "step_counts": "Step counts",
    "input_tab": "Input Image",
    "uov_image": "Vary / Upscale picture",
    "edit": "Input image",
    "edit.image": "Input image",
    "edit.mask": "Inpaint mask",
    "edit.mask_grow": "Grow (+) / erode (−) mask",
    "edit.mask_feather": "Feather edge",
    "edit.inpaint_mode": "Inpaint method",
    "edit.outpaint_sides": "Outpaint",
    "edit.outpaint_size": "Outpaint size",
    "edit.upscale": "Upscale",
    "edit.vary_strength": "Vary",
    "edit.inpaint_model": "Inpainting model",
    **GUIDANCE_LABELS,  # 15A
    "output_format": "Output format",  # 15D
    "output_quality": "JPEG/WebP quality",
    "scheduler": "Scheduler",  # 15B
    "vae": "VAE",
    "refiner": "Refiner",
    "refiner_switch": "Refiner switch",
    **ENHANCE_FIELD_LABELS,  # 16: Enhance and Mask from text
    # 15c
    "disable_seed_increment": "Disable seed increment",
    "wildcards_in_order": "Read wildcards in order",
    "edit.mask_invert": "Invert mask",
    "edit.denoise": "Denoise strength",
    "edit.inpaint_context": "Respective field",
    "edit.inpaint_prompt": "Inpaint prompt",
    "uov_denoise": "Vary / Upscale denoise",
}
_PART_LABELS = {"image": "", "type": " type", "weight": " weight", "stop_at": " stop at", "skip_preprocess": ""}
_IMAGE_PROMPT = re.compile(r"^image_prompts\[(\d+)\](?:\.(\w+))?$")
_LORA_SLOT = re.compile(r"^lora_(\d+)(_weight)?$")
_LORA_WEIGHT = re.compile(r"^loras\.(.+)\.weight$")
_IP_SLOT = re.compile(r"^ip_(\d+)_(\w+)$")
# "field: message" as InvalidRequest words it; the field is a name, never a sentence
_FIELD_PREFIX = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[\w\[\]]+)*): (.+)$", re.DOTALL)
# a server path of two or more parts (not a URL's, not a ratio like 1/4): shown as its last part
_SERVER_PATH = re.compile(r"(?<![\w.:/])(?:/[\w.@+~-]+){2,}/?")
_CLASS_IN_PARENS = re.compile(r"\s*\((?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception|Warning)\)")
_CLASS_PREFIX = re.compile(r"\b(?:[\w]+\.)*[A-Z]\w*(?:Error|Exception): ")
# a server path in parentheses ("--models-dir (/srv/models)"): the console names it; the page leaves it out
_PATH_IN_PARENS = re.compile(r"\s*\((?:/[\w.@+~-]+){2,}/?\)")
# "copy its files into /srv/models/registry/x": where exactly is the console's to say
_COPY_INTO_PATH = re.compile(r"(copy its files into) (?:/[\w.@+~-]+){2,}/?")
# a loader's own words after "could not be loaded as ... (KeyError's '_class_name', a header error, ...)"
_LOADER_DETAIL = re.compile(r"(could not be loaded as an? [\w -]+?) \(.*\)(?=\.?$)", re.DOTALL)
# the next sentence of a message, joined to the first with a semicolon: a toast says one sentence
_NEXT_SENTENCE = re.compile(r"(?<=\w)[.!?] +([A-Z])(?=[a-z ])")
# a limit's "is -1; it must be ..." after the field's label
_IS_VALUE = re.compile(r"^is (\S+); it must ")


def field_label(field: str) -> str:
    """The page's name for a request or widget field; an unknown name is shown as it is."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    if match := _IMAGE_PROMPT.match(field):
        return f"Image prompt {int(match.group(1)) + 1}{_PART_LABELS.get(match.group(2) or 'image', '')}"
    if match := _IP_SLOT.match(field):
        return f"Image prompt {match.group(1)}{_PART_LABELS.get(match.group(2), '')}"
    if match := _LORA_SLOT.match(field):
        return f"LoRA {match.group(1)}{' weight' if match.group(2) else ''}"
    if match := _LORA_WEIGHT.match(field):
        return f"LoRA '{match.group(1)}' weight"
    return field


def _is_field_name(name: str) -> bool:
    return field_label(name) != name


def _tidy(text: str) -> str:
    """One sentence: server paths left out or shortened to their last part, exception class names and a
    loader's raw detail dropped, further sentences joined with semicolons, ended with a full stop."""
    text = _LOADER_DETAIL.sub(r"\1; it may be damaged, incomplete or another kind of model", text.strip())
    text = _PATH_IN_PARENS.sub("", text)
    text = _COPY_INTO_PATH.sub(r"\1 the folder the studio's console names", text)
    text = _IS_VALUE.sub(r"\1 is not allowed; it must ", text)
    text = _SERVER_PATH.sub(lambda match: match.group(0).rstrip("/").rsplit("/", 1)[-1], text)
    text = _CLASS_IN_PARENS.sub("", text)
    text = _CLASS_PREFIX.sub("", text).strip()
    text = _NEXT_SENTENCE.sub(lambda match: "; " + match.group(1).lower(), text)
    return text if not text or text[-1] in ".!?…" else text + "."


def sentence(text: str) -> str:
    text = _tidy(text)
    return text[:1].upper() + text[1:]


def labelled(field: str, message: str, locale: str = ENGLISH) -> str:
    """"Label: message." for a field and what is wrong with it."""
    label, problem = translate(field_label(field), locale), translate(_tidy(message), locale)
    return fill("{field}: {problem}", locale, field=label, problem=problem)


def readable_text(text: str, locale: str = ENGLISH) -> str:
    """An error's text (a job's failure, say) as the page shows it: "seed: 'x' is ..." -> "Seed: 'x' is ...."."""
    match = _FIELD_PREFIX.match(text.strip())
    if match and _is_field_name(match.group(1)):
        return labelled(match.group(1), match.group(2), locale)
    return translate(sentence(text), locale)


def user_message(error: BaseException, action: str, locale: str = ENGLISH) -> str:
    """One readable sentence for `error` met while doing `action` (e.g. "Generate"), in `locale`."""
    if isinstance(error, InvalidRequest):
        return labelled(error.field, error.message, locale)
    if is_user_error(error):
        return readable_text(str(error), locale)
    return fill(
        "{action} failed because of an internal error; the studio's console has the details.",
        locale,
        action=translate(action, locale),
    )
