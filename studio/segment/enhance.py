"""Enhance: after an image is made, each region of its `EnhanceSpec` is found by words (text_masks.py),
re-painted at a native size with the inpaint plan of studio/edit/ (its own prompt, mode and strength) and
pasted back through the grown mask, so every pixel outside the grown masks stays byte-identical.

Regions run in order, each on the picture the previous one left. A region whose words find nothing leaves the
picture as it is. Region i samples with seed `request.image_seed(i + 1)`, so the result is a pure function of
the resolved request and re-makes exactly from the metadata. Region prompts are used as written (no styles);
an empty one is the image's resolved prompt. Enhance samples with the base model's UNet and the image's LoRAs.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from PIL import Image

from studio.conditioning import encode_prompts
from studio.edit import masks
from studio.edit.stage import input_image, plan_inpaint
from studio.edit_spec import INPAINT_MODES, EditSpec
from studio.enhance_spec import EnhanceRegion
from studio.sampling_plan import SamplingPlan
from studio.types import GenerationRequest

log = logging.getLogger(__name__)

FEATHER = EditSpec().mask_feather  # pixels of soft edge inside the grown mask, as Inpaint's default


def enhances_before_upscale(request: GenerationRequest) -> bool:
    edit = request.edit
    return request.enhance is not None and request.enhance.order == "before_upscale" and edit is not None and edit.kind == "upscale"


def before_upscale(engine, pipeline, request, position, count, on_progress, control) -> GenerationRequest:
    """The request to sample: an Upscale enhanced "before_upscale" upscales its enhanced input image (put in
    the input store); any other request is returned as it is. Stopped part-way, the request is unchanged (its
    sampling then ends at once)."""
    if not enhances_before_upscale(request):
        return request
    picture = enhance(engine, pipeline, request, input_image(engine, request.edit.image, "edit.image"), position, count, on_progress, control)
    if picture is None:
        return request
    return replace(request, edit=replace(request.edit, image=engine.inputs.put(picture)))


def after_generation(engine, pipeline, request, image, position, count, on_progress, control) -> Image.Image | None:
    """The finished picture with its regions enhanced (unless that was done before upscaling); None if Stop or
    Skip came meanwhile."""
    if request.enhance is None or enhances_before_upscale(request):
        return image
    return enhance(engine, pipeline, request, image, position, count, on_progress, control)


def enhance(engine, pipeline, request, image, position, count, on_progress, control) -> Image.Image | None:
    for index, region in enumerate(request.enhance.regions):
        if control.interrupted:
            return None
        image = _enhance_region(engine, pipeline, request, index, region, image, position, count, on_progress, control)
        if image is None:
            return None
    return image


def _enhance_region(engine, pipeline, request, index, region: EnhanceRegion, image, position, count, on_progress, control):
    image = image.convert("RGB")
    grown = engine.text_masks.mask(image, region.detect, region.threshold, region.grow)
    if not grown.any():
        log.info("enhance: '%s' found nothing; region %d left as it is", region.detect, index + 1)
        return image
    region_request = replace(
        request,
        prompt=region.prompt or request.prompt,
        negative_prompt=region.negative_prompt or request.negative_prompt,
        seed=request.image_seed(index + 1),
        edit=None, image_prompts=(), enhance=None,
    )  # fmt: skip
    plan = SamplingPlan()
    context = INPAINT_MODES[region.inpaint_mode][1]
    info = engine.manager.info
    plan_inpaint(plan, region_request, image, grown, masks.feather(grown, FEATHER), region.strength, context, info.native_sizes)
    embeddings = encode_prompts(pipeline, region_request.prompt, region_request.negative_prompt, request.cfg_scale)
    phase = f"enhance {index + 1}: {region.detect}"
    relay = None if on_progress is None else (lambda event: on_progress(replace(event, phase=phase)))
    latents, plan = engine._sample(pipeline, region_request, position, count, embeddings, relay, control, plan=plan)
    decoded = None if control.interrupted else engine._decode(pipeline, latents, control)
    if decoded is None:
        return None
    for hook in plan.finish_hooks:  # the pasting back
        decoded = hook(decoded)
    return decoded
