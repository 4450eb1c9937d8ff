"""The input-image tools' request (`EditSpec`): inpaint, outpaint, vary, upscale, with each field's limit."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from studio.limits import InvalidRequest, Limit, coerce, echo, limited, text_list

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
    mask_grow: int = limited(8, Limit(-256, 256), "pixels the mask (or outpaint seam) is grown by; below 0 the mask is eroded")
    mask_feather: int = limited(8, Limit(0, 256), "pixels of soft edge when pasting back")
    outpaint_sides: tuple[str, ...] = field(default=(), metadata={"help": "any of left, right, top, bottom"})
    outpaint_size: float = limited(0.3, Limit(0.05, 1.0), "added per side, as a fraction of the image side")
    vary_strength: str = field(default="subtle", metadata={"help": "subtle (0.5) or strong (0.85)"})
    upscale: str = field(default="2", metadata={"help": "1.5, 2 or fast2 (the upscale model only)"})
    inpaint_model: str = field(
        default="",
        metadata={"help": "inpaint/outpaint: 'base' (the base model's UNet) or the --inpaint-model used; '' = the studio's"},
    )
    # 15c: inpaint controls and denoise overrides; each neutral value keeps the tool's own behaviour
    mask_invert: bool = field(default=False, metadata={"help": "inpaint only: repaint the black side of the mask"})
    denoise: float = limited(0.0, Limit(0, 1), "denoise strength of any tool; 0 = the tool's own (mode, strength, upscale)")
    inpaint_context: float = limited(
        0.0, Limit(0, 2), "inpaint only: respective field, context around the mask as a fraction of its box; 0 = the mode's"
    )
    inpaint_prompt: str = limited("", Limit(high=4000), "inpaint only: an additional prompt for the repainted area")

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
                values[name] = text_list("edit.outpaint_sides", value)
            else:
                values[name] = coerce(f"edit.{name}", value, type(getattr(cls(), name)))
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
        self._check_controls()
        return self

    def _check_controls(self) -> None:
        """The inpaint-only controls (15c) are refused on other tools rather than silently ignored."""
        if self.kind != "inpaint":
            for name, neutral in (("mask_invert", False), ("inpaint_context", 0.0), ("inpaint_prompt", "")):
                if getattr(self, name) != neutral:
                    raise InvalidRequest(f"edit.{name}", f"is for inpaint only, not {self.kind}")
            if self.mask_grow < 0:
                raise InvalidRequest("edit.mask_grow", f"is {self.mask_grow}; eroding (below 0) is for inpaint only")
        if self.kind == "upscale" and self.denoise and not UPSCALE_MODES[self.upscale][1]:
            raise InvalidRequest("edit.denoise", f"{self.upscale} is the upscale model alone; choose 1.5 or 2 to refine")
