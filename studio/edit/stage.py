"""The edit stage: turns a request's `EditSpec` into the sampling plan (mode, image, mask, strength, working
size) and a finish hook that maps the decoded work image back to the output picture.

Every tool samples at a size the model is made for (a native size, or the picture's own size where the
model allows it) and the hook maps back: inpaint/outpaint paste the crop into the picture through the
feathered mask (pixels outside the grown mask stay byte-identical), vary resizes, upscale blends its tiles.
Inpaint/outpaint sample with the `--inpaint-model` UNet when the resolved request names it (see
inpaint_model.py), else with the base model's own.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image

from studio.edit import masks
from studio.edit.inpaint_model import inpaint_unet_for, resolve_inpaint_model
from studio.edit.outpaint import extend_canvas, outpaint_size
from studio.edit.upscale import model_upscale, refine_tiles, upscale_size
from studio.sampling_plan import LoopContext, SamplingPlan, Tile
from studio.types import INPAINT_MODES, UPSCALE_MODES, VARY_STRENGTHS, GenerationRequest, InvalidRequest

# Outpaint repaints the new area from its blurred edge fill at this strength: the fill's colours carry the
# picture outwards, the model draws the detail (1.0 would ignore the fill; below ~0.8 the blur shows through).
OUTPAINT_STRENGTH = 0.9


def input_image(engine, digest: str, field: str) -> Image.Image:
    image = engine.inputs.get(digest, field)
    return image.convert("RGB") if image.mode != "RGB" else image


def output_size(engine, edit) -> tuple[int, int]:
    """The size of the picture an edit makes, from its input image."""
    size = input_image(engine, edit.image, "edit.image").size
    if edit.kind == "outpaint":
        size = outpaint_size(size, edit.outpaint_sides, edit.outpaint_size)
    elif edit.kind == "upscale":
        size = upscale_size(size, edit.upscale)
    for name, value in zip(("width", "height"), size):
        from studio.types import EDIT_OUTPUT_LIMIT

        if not EDIT_OUTPUT_LIMIT.low <= value <= EDIT_OUTPUT_LIMIT.high:
            raise InvalidRequest(
                f"edit.{edit.kind}",
                f"would make a picture {size[0]}x{size[1]}; each side must be {EDIT_OUTPUT_LIMIT.low:g}-{EDIT_OUTPUT_LIMIT.high:g} pixels",
            )
    return size


def resolve_edit(engine, request: GenerationRequest) -> GenerationRequest:
    """The request with width/height set to the edit's output size (what the metadata records); inputs and
    masks are checked here, before any sampling."""
    if request.edit is None:
        return request
    edit = request.edit.check()
    width, height = output_size(engine, edit)
    if edit.kind == "inpaint":
        masks.repaint_area(engine.inputs.get(edit.mask, "edit.mask"), (width, height), edit)
        if edit.inpaint_prompt:  # folded into the prompt here, so the recorded request re-makes it as it is
            prompt = ", ".join(text for text in (edit.inpaint_prompt, request.prompt) if text.strip())
            request, edit = replace(request, prompt=prompt), replace(edit, inpaint_prompt="")
    if edit.kind in ("inpaint", "outpaint"):  # record which UNet inpaints, so the metadata re-makes it
        chosen = resolve_inpaint_model(edit.inpaint_model, engine.manager.settings.inpaint_model)
        edit = replace(edit, inpaint_model=chosen)
    elif edit.inpaint_model:
        raise InvalidRequest(
            "edit.inpaint_model", f"only inpaint and outpaint take an inpainting model, not {edit.kind}"
        )
    return replace(request, width=width, height=height, edit=edit)


def steps_for(steps: int, strength: float) -> int:
    """Scheduler steps so that `strength` of them (what img2img runs) is the requested step count."""
    return steps if strength >= 1 else math.ceil(steps / strength - 1e-9)


def edit_stage(engine, request: GenerationRequest, plan: SamplingPlan) -> None:
    edit = request.edit
    if edit is None:
        return
    image = input_image(engine, edit.image, "edit.image")
    info = engine.manager.info
    if edit.kind in ("inpaint", "outpaint"):
        if edit.kind == "inpaint":
            grown = masks.repaint_area(engine.inputs.get(edit.mask, "edit.mask"), image.size, edit)
            strength, context = INPAINT_MODES[edit.inpaint_mode]
            context = edit.inpaint_context or context
        else:
            image, grown = extend_canvas(image, edit.outpaint_sides, edit.outpaint_size, edit.mask_grow)
            strength, context = OUTPAINT_STRENGTH, INPAINT_MODES["default"][1]
        strength = edit.denoise or strength
        plan.unet = inpaint_unet_for(engine.manager, request)
        _inpaint(
            plan, request, image, grown, masks.feather(grown, edit.mask_feather), strength, context, info.native_sizes
        )
    elif edit.kind == "vary":
        _img2img(plan, request, image, edit.denoise or VARY_STRENGTHS[edit.vary_strength], info)
    else:
        _upscale(engine, plan, request, image, edit.upscale, edit.denoise)


def _inpaint(plan, request, image, grown, weights, strength, context, native_sizes) -> None:
    crop = masks.crop_around(grown, context, native_sizes)
    work_image, work_mask = masks.crop_inputs(image, grown, crop)
    plan.mode = "inpaint"
    plan.arguments.update(
        image=work_image, mask_image=work_mask, strength=strength, width=crop.work_size[0], height=crop.work_size[1],
        num_inference_steps=steps_for(request.steps, strength),
    )  # fmt: skip
    plan.finish_hooks.append(lambda decoded: masks.paste_back(image, decoded, crop, grown, weights))


plan_inpaint = _inpaint  # 16: Enhance re-paints each region it finds with the same plan


def _img2img(plan, request, image, strength, info) -> None:
    work_size = masks.work_size_for(image.size, info.size_limit, info.native_sizes)
    plan.mode = "img2img"
    plan.arguments.update(
        image=image.resize(work_size, Image.Resampling.LANCZOS) if work_size != image.size else image,
        strength=strength, num_inference_steps=steps_for(request.steps, strength),
        width=work_size[0], height=work_size[1],
    )  # fmt: skip
    if work_size != image.size:
        plan.finish_hooks.append(lambda decoded: decoded.resize(image.size, Image.Resampling.LANCZOS))


def _upscale(engine, plan, request, image, mode, denoise_override: float = 0.0) -> None:
    denoise = denoise_override or UPSCALE_MODES[mode][1]
    size = (request.width, request.height)
    info = engine.manager.info
    plan.mode = "img2img"

    def loop(context: LoopContext):
        from studio.decode import decode_latents

        thumbnail = np.asarray(_thumbnail(image))

        def upscaling(index: int, count: int) -> None:
            context.check()
            context.report(Tile("upscaling", index, count), thumbnail)

        upscaler = engine.edit_models.upscaler()
        enlarged = model_upscale(upscaler, image, upscaling).resize(size, Image.Resampling.LANCZOS)
        if not denoise:
            return enlarged
        steps = steps_for(request.steps, denoise)
        tile: Tile | None = None

        def refining(index: int, count: int) -> None:
            nonlocal tile
            context.check()
            tile = Tile("refining", index, count)

        def refine(piece: Image.Image) -> Image.Image:
            latents = context.call(
                tile, image=piece, strength=denoise, num_inference_steps=steps, width=piece.width, height=piece.height
            )
            context.check()  # a tile stopped part-way is not decoded
            return decode_latents(engine.manager.pipeline, latents, check=context.check)[0]

        return refine_tiles(enlarged, info.default_size, info.size_limit.multiple_of, refine, refining)

    plan.loop = loop


def _thumbnail(image: Image.Image, side: int = 64) -> Image.Image:
    """A small copy of the picture being upscaled: the preview while the upscale model works (no latents)."""
    small = image.copy()
    small.thumbnail((side, side))
    return small
