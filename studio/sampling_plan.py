"""How one image is sampled beyond text-to-image: the pipeline mode, ControlNets, extra call arguments and
step-end hooks. Stages (edit tools, image prompts) fill a plan; the engine turns it into one pipeline call.

A stage is `stage(engine, request, plan) -> None`. It reads its own part of the request and adds to the
plan; the PipelineManager derives the matching pipeline from the resident one (`from_pipe`, no reload).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODES = ("txt2img", "img2img", "inpaint")


@dataclass
class ControlNetUse:
    model: Any  # a loaded diffusers ControlNetModel
    image: Any  # the control map (PIL)
    scale: float
    end: float  # fraction of the denoising after which it stops steering


class Interrupted(Exception):
    """Raised inside a plan's loop, between tiles, when Stop or Skip ends the image in progress."""


@dataclass(frozen=True)
class Tile:
    """Where tiled work stands, for progress: tile `index` (1-based) of `count` in `phase` ("upscaling")."""

    phase: str
    index: int
    count: int


@dataclass(frozen=True)
class LoopContext:
    """What a plan's loop is given. Tiled work calls `check()` before each tile (so Stop acts within one
    tile) and says where it stands: `call(tile=...)` for a tile that is denoised (its step events carry the
    tile, and count steps over all tiles), `report(tile, preview)` for one that is not."""

    # call(tile: Tile | None = None, **arguments) -> latents: the pipeline with prompt, steps, generator and
    # step hooks bound; the plan's arguments are defaults.
    call: Callable[..., Any]
    check: Callable[[], None]  # raises Interrupted if the image should end now
    report: Callable[..., None]  # report(tile, preview=None): a progress event for a tile without steps


@dataclass
class SamplingPlan:
    mode: str = "txt2img"
    arguments: dict[str, Any] = field(default_factory=dict)
    controlnets: list[ControlNetUse] = field(default_factory=list)
    # A UNet to sample with instead of the resident one (the dedicated inpainting UNet); None: the base's.
    unet: Any = None
    step_hooks: list[Callable[..., None]] = field(default_factory=list)
    # Applied in order to the decoded PIL image, e.g. paste an inpainted crop back into the whole picture.
    finish_hooks: list[Callable[[Any], Any]] = field(default_factory=list)
    # Replaces the single pipeline call: `loop(context)` gets a `LoopContext` and returns latents to decode or
    # a finished PIL image (tiled refines, tools that need no denoising).
    loop: Callable[[LoopContext], Any] | None = None

    def controlnet_models(self) -> tuple:
        return tuple(use.model for use in self.controlnets)

    def pipeline_arguments(self) -> dict[str, Any]:
        arguments = dict(self.arguments)
        if self.controlnets:
            single = len(self.controlnets) == 1
            images = [use.image for use in self.controlnets]
            scales = [use.scale for use in self.controlnets]
            ends = [use.end for use in self.controlnets]
            key = "control_image" if self.mode != "txt2img" else "image"
            arguments[key] = images[0] if single else images
            arguments["controlnet_conditioning_scale"] = scales[0] if single else scales
            arguments["control_guidance_start"] = 0.0 if single else [0.0] * len(ends)
            arguments["control_guidance_end"] = ends[0] if single else ends
        return arguments


Stage = Callable[[Any, Any, SamplingPlan], None]
