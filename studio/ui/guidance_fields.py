"""The Advanced tab's sampling-loop settings (15A) <-> request fields, by name. No gradio here.

Each widget is named by its GenerationRequest field (`GUIDANCE_FIELDS`), so values map one to one; limits are
the fields' own (validation owns them), labels are the names Fooocus users know.
"""

from __future__ import annotations

from typing import Any

from studio.limits import InvalidRequest
from studio.types import GUIDANCE_FIELDS, GenerationRequest

GUIDANCE_LABELS = {
    "sharpness": "Image Sharpness",
    "adm_scale_positive": "Positive ADM Guidance Scaler",
    "adm_scale_negative": "Negative ADM Guidance Scaler",
    "adm_scale_end": "ADM Guidance End At Step",
    "adaptive_cfg": "CFG Mimicking from TSNR",
    "freeu_b1": "FreeU B1",
    "freeu_b2": "FreeU B2",
    "freeu_s1": "FreeU S1",
    "freeu_s2": "FreeU S2",
    "clip_skip": "CLIP Skip",
}
WHOLE_NUMBER_FIELDS = ("clip_skip",)


def guidance_from_values(values: dict[str, Any]) -> dict[str, Any]:
    """Request values from widget values (every GUIDANCE_FIELDS name must be present)."""
    return {name: _value(name, values[name]) for name in GUIDANCE_FIELDS}


def guidance_values(request: GenerationRequest) -> dict[str, Any]:
    """Widget values that re-make `request`."""
    return {name: getattr(request, name) for name in GUIDANCE_FIELDS}


def _value(name: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(name, "must be a number")
    if name in WHOLE_NUMBER_FIELDS:
        if not float(value).is_integer():
            raise InvalidRequest(name, f"is {value:g}; it must be a whole number")
        return int(value)
    return float(value)
