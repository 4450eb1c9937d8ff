"""Enhance's request (`EnhanceSpec`): after an image is made, up to three regions found by words ("face",
"hands") are each re-painted at a native size and pasted back. Each field's limit is declared here, once; the
mask-from-text tool (Inpaint tab, `/v1/masks/from-text`, `--mask-from-text`) reuses `threshold` and `grow`.

Neutral is no EnhanceSpec at all (`GenerationRequest.enhance = None`): the image is made as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from studio.edit_spec import INPAINT_MODES
from studio.limits import InvalidRequest, Limit, coerce, echo, limited

MAX_ENHANCE_REGIONS = 3
# Where Enhance runs when the request is an Upscale: on the upscaled picture, or on the input before upscaling
# (cheaper, and the upscaler's refine pass smooths the seams). Any other request is enhanced once it is made.
ENHANCE_ORDERS = ("after_upscale", "before_upscale")


@dataclass(frozen=True)
class EnhanceRegion:
    """One region: what to find, what to paint there, and how hard."""

    detect: str = limited("", Limit(high=200), "what to find, in words: 'face', 'hands', 'eyes', 'person', ...")
    prompt: str = limited("", Limit(high=4000), "what to paint in the region; '' = the main prompt")
    negative_prompt: str = limited("", Limit(high=4000), "what to avoid in the region; '' = the main negative prompt")
    inpaint_mode: str = field(
        default="improve_detail", metadata={"help": "default, improve_detail or modify_content (context kept around the region)"}
    )
    strength: float = limited(0.4, Limit(0.05, 1.0), "denoise strength of the repaint (1 = paint anew)")
    threshold: float = limited(0.3, Limit(0.05, 0.95), "detector score a box needs to count (lower finds more)")
    grow: int = limited(8, Limit(0, 256), "pixels the found mask is grown by")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def region_limit(name: str) -> Limit:
    """The declared limit of an EnhanceRegion field (also the mask-from-text tool's), for widgets and help."""
    return next(f.metadata["limit"] for f in fields(EnhanceRegion) if f.name == name)


def region_help(name: str) -> str:
    return next(f.metadata["help"] for f in fields(EnhanceRegion) if f.name == name)


@dataclass(frozen=True)
class EnhanceSpec:
    regions: tuple[EnhanceRegion, ...] = field(default=(), metadata={"help": f"1 to {MAX_ENHANCE_REGIONS} regions"})
    order: str = field(default="after_upscale", metadata={"help": "after_upscale or before_upscale (Upscale requests)"})

    def to_dict(self) -> dict[str, Any]:
        return {"regions": [region.to_dict() for region in self.regions], "order": self.order}

    @classmethod
    def from_dict(cls, data: Any) -> EnhanceSpec:
        if not isinstance(data, dict):
            raise InvalidRequest("enhance", "must be a JSON object or null")
        unknown = sorted(set(data) - {"regions", "order"})
        if unknown:
            raise InvalidRequest(f"enhance.{echo(unknown[0])}", "is not an enhance field")
        regions = data.get("regions", [])
        if not isinstance(regions, (list, tuple)):
            raise InvalidRequest("enhance.regions", "must be a list of region objects")
        order = coerce("enhance.order", data.get("order", "after_upscale"), str)
        return cls(tuple(_region(index, item) for index, item in enumerate(regions)), order).check()

    def check(self) -> EnhanceSpec:
        """Raise InvalidRequest naming the `enhance...` field that is wrong; return self."""
        if not 1 <= len(self.regions) <= MAX_ENHANCE_REGIONS:
            raise InvalidRequest("enhance.regions", f"has {len(self.regions)} regions; it takes 1 to {MAX_ENHANCE_REGIONS}")
        if self.order not in ENHANCE_ORDERS:
            raise InvalidRequest("enhance.order", f"'{echo(self.order)}' is unknown; choose one of: {', '.join(ENHANCE_ORDERS)}")
        for index, region in enumerate(self.regions):
            name = f"enhance.regions[{index}]"
            for f in fields(region):
                if "limit" in f.metadata:
                    f.metadata["limit"].check(f"{name}.{f.name}", getattr(region, f.name))
            if not region.detect.strip():
                raise InvalidRequest(f"{name}.detect", "is empty; say what to find, e.g. 'face'")
            if region.inpaint_mode not in INPAINT_MODES:
                raise InvalidRequest(
                    f"{name}.inpaint_mode", f"'{echo(region.inpaint_mode)}' is unknown; choose one of: {', '.join(INPAINT_MODES)}"
                )
        return self


def _region(index: int, data: Any) -> EnhanceRegion:
    name = f"enhance.regions[{index}]"
    if not isinstance(data, dict):
        raise InvalidRequest(name, "must be an object with 'detect' and optional prompt, strength, ...")
    known = {f.name: f for f in fields(EnhanceRegion)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidRequest(f"{name}.{echo(unknown[0])}", "is not an enhance region field")
    defaults = EnhanceRegion()
    return EnhanceRegion(**{key: coerce(f"{name}.{key}", value, type(getattr(defaults, key))) for key, value in data.items()})
