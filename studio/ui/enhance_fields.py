"""The Enhance panel's and the mask-from-text row's values <-> a request's `enhance`, by name. No gradio here.

Widgets: the "Enhance" checkbox (`enhance`; off = no enhance, the neutral request), `enhance_order`, and per
region i (1..3) `enhance_<i>_<part>` for EnhanceRegion's fields. A region is used when its words (`detect`)
are filled in. Limits, defaults and help are EnhanceRegion's declared ones.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from studio.enhance_spec import ENHANCE_ORDERS, MAX_ENHANCE_REGIONS, EnhanceRegion, EnhanceSpec
from studio.limits import InvalidRequest, coerce
from studio.types import GenerationRequest

REGION_PARTS = tuple(f.name for f in fields(EnhanceRegion))
REGION_FIELDS = tuple(
    tuple(f"enhance_{index}_{part}" for part in REGION_PARTS) for index in range(1, MAX_ENHANCE_REGIONS + 1)
)
ENHANCE_FIELD_NAMES = ("enhance", "enhance_order", *(name for region in REGION_FIELDS for name in region))
# The Inpaint tab's "Mask from text" row: not request fields (it makes the mask the editor then holds).
TEXT_MASK_NAMES = ("mask_text", "mask_text_threshold", "mask_text_grow")

_PART_LABELS = {
    "detect": "words", "prompt": "prompt", "negative_prompt": "negative prompt", "inpaint_mode": "method",
    "strength": "strength", "threshold": "detection threshold", "grow": "grow mask",
}  # fmt: skip
ENHANCE_FIELD_LABELS = {
    "enhance": "Enhance",
    "enhance_order": "Enhance order",
    "enhance.order": "Enhance order",
    "enhance.regions": "Enhance regions",
    "mask_text": "Mask from text",
    "mask_text_threshold": "Mask from text threshold",
    "mask_text_grow": "Mask from text grow",
    **{
        name: f"Enhance region {index} {_PART_LABELS[part]}"
        for index in range(1, MAX_ENHANCE_REGIONS + 1)
        for part in REGION_PARTS
        for name in (f"enhance_{index}_{part}", f"enhance.regions[{index - 1}].{part}")
    },
}


def default_enhance_values() -> dict[str, Any]:
    region = EnhanceRegion()
    values: dict[str, Any] = {"enhance": False, "enhance_order": EnhanceSpec().order}
    for names in REGION_FIELDS:
        values.update({name: getattr(region, part) for name, part in zip(names, REGION_PARTS)})
    return values


def enhance_from_values(values: dict[str, Any]) -> EnhanceSpec | None:
    """The EnhanceSpec of the panel's values, or None while Enhance is off; InvalidRequest names the widget."""
    if not values.get("enhance"):
        return None
    defaults = default_enhance_values()
    regions = []
    for names in REGION_FIELDS:
        given = {part: values.get(name, defaults[name]) for name, part in zip(names, REGION_PARTS)}
        if not str(given["detect"] or "").strip():
            continue
        typed = {}
        for (name, part), value in zip(zip(names, REGION_PARTS), given.values()):
            kind = type(getattr(EnhanceRegion(), part))
            if kind is int and isinstance(value, float) and value.is_integer():
                value = int(value)
            typed[part] = coerce(name, "" if value is None and kind is str else value, kind)
        regions.append((names, EnhanceRegion(**typed)))
    if not regions:
        raise InvalidRequest("enhance_1_detect", "Enhance is on: say what to find, e.g. 'face' or 'hands'")
    order = values.get("enhance_order") or defaults["enhance_order"]
    if order not in ENHANCE_ORDERS:
        raise InvalidRequest("enhance_order", f"'{order}' is unknown; choose one of: {', '.join(ENHANCE_ORDERS)}")
    for names, region in regions:  # name the widget, not the request's region index
        try:
            EnhanceSpec((region,), order).check()
        except InvalidRequest as error:
            part = error.field.rsplit(".", 1)[-1]
            raise InvalidRequest(names[REGION_PARTS.index(part)] if part in REGION_PARTS else "enhance", error.message) from None
    return EnhanceSpec(tuple(region for _names, region in regions), order)


def enhance_values_from_request(request: GenerationRequest) -> dict[str, Any]:
    """Panel values that re-make `request`'s enhance (all off and default when it has none)."""
    values = default_enhance_values()
    spec = request.enhance
    if spec is None:
        return values
    values.update(enhance=True, enhance_order=spec.order)
    for names, region in zip(REGION_FIELDS, spec.regions):
        values.update({name: getattr(region, part) for name, part in zip(names, REGION_PARTS)})
    return values
