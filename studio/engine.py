"""The engine: runs one validated request through its stages. The only place that calls a pipeline."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
from PIL import Image

from studio.clip_skip import clip_skipped
from studio.conditioning import encode_prompts
from studio.control.stage import ImagePromptStage
from studio.decode import decode_latents, latent_preview
from studio.edit import edit_stage, resolve_edit
from studio.edit.inpaint_model import inpaint_unet_for
from studio.edit.tools import EditModels
from studio.embeddings import EmbeddingLibrary, EmbeddingTokens, check_embeddings
from studio.inputs import InputStore
from studio.jobs import JobControl
from studio.models import ModelUnavailable, PipelineManager
from studio.performance import PERFORMANCE_MODES
from studio.refiner import RefinerStage, check_refiner
from studio.registry import SPEED_LORAS
from studio.request_checks import check_names
from studio.resolve import PromptLibraries, resolve_images
from studio.sampling_guidance import GuidanceSettings, SamplingGuidance
from studio.sampling_plan import Interrupted, LoopContext, SamplingPlan, Stage, Tile
from studio.schedulers import build_scheduler
from studio.segment import enhance
from studio.segment.text_masks import TextMasks
from studio.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    ProgressEvent,
    validate_request,
)
from studio.vaes import VaeChoice, check_vae

ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class ImageRun:
    """One image of `Engine.run_many`: the image exactly as `run` makes it, plus what comparisons measure."""

    generated: GeneratedImage
    latents: torch.Tensor  # the final latents before decoding, float32 on the CPU
    seconds: float  # sampling + decoding time


ImageCallback = Callable[[int, ImageRun], None]


class Engine:
    def __init__(self, manager: PipelineManager, libraries: PromptLibraries | None = None, inputs: InputStore | None = None):
        self.manager = manager
        self.libraries = libraries or PromptLibraries.for_settings(manager.settings)
        # Input images (image prompts, masks, images to edit) that requests name by hash.
        self.inputs = inputs or InputStore(manager.settings.output_dir / "inputs")
        # Stages that shape each image's sampling call (see sampling_plan.py), in order.
        self.stages: tuple[Stage, ...] = ()
        self.stages += (edit_stage,)  # inpaint, outpaint, vary, upscale (studio/edit/)
        self.stages += (ImagePromptStage(manager),)  # image_prompts: IP-Adapters and ControlNets
        self.stages += (RefinerStage(manager, EmbeddingLibrary.in_models_dir(manager.settings.models_dir)),)  # 15B, last
        self.edit_models = EditModels(manager)  # the upscaler and captioner, loaded on first use
        self.vaes = VaeChoice(manager)  # 15B: a request's `vae`, loaded once and kept resident
        self.embeddings = EmbeddingTokens(EmbeddingLibrary.in_models_dir(manager.settings.models_dir))
        self.text_masks = TextMasks(manager)  # 16: masks from words (detector + segmenter), loaded on first use
        # One job at a time owns the models: the pipeline's scheduler and adapters are set per image, and a
        # request's model is switched to under it (re-entered: a run holds it from the switch to its last image).
        self._busy = threading.RLock()

    def switch_model(self, source: str, field: str = "model"):
        """Load another checkpoint (a preset's), once the job in progress is done. If it cannot be had, the
        loaded model stays and ModelUnavailable says why, naming `field`."""
        with self._busy:
            if source in (self.manager.info.name, self.manager.info.source):
                return self.manager.info
            return self.manager.load(source, field)

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        """Check the request against its limits, the sizes those of the model it names (not loaded for this);
        InvalidRequest naming `model` if that model is not available, or the field of a name or input image
        this studio does not have."""
        request = validate_request(request, self.manager.info_for(request.model).size_limit)
        check_vae(request.vae, self.vaes.library)
        check_embeddings(request.prompt, request.negative_prompt, self.embeddings.library)
        check_refiner(request, self.manager.checkpoints)
        return check_names(request, self.libraries, self.inputs)

    def resolve(self, request: GenerationRequest) -> tuple[GenerationRequest, ...]:
        """The request's images, each fully resolved (see resolve.py) and naming the loaded model, which makes
        them (`run` switches to the request's model first); raises InvalidRequest for bad input."""
        request = replace(request, model=self.manager.info.name)
        request = resolve_edit(self, request)  # an edit's output size comes from its input image
        return resolve_images(request, self.libraries, self.manager.info.size_limit)

    def _use_model_of(self, request: GenerationRequest) -> None:
        """Switch to the model the request names ('' = keep the loaded one); the caller holds `_busy`. If it
        cannot be loaded, the loaded model stays and ModelUnavailable says why."""
        source = self.manager.source_for(request.model)
        if source != self.manager.info.source:
            self.manager.load(source, "model")  # an error names the request's field, not --model

    def run(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        control: JobControl | None = None,
        on_image: Callable[[int, GeneratedImage], None] | None = None,
    ) -> GenerationResult:
        """Make the request's images. `on_image(index, generated)` gets each image as soon as it is decoded
        (the job queue saves it there, so a later failure never loses it); the result is the same either way."""
        request = self.validate(request)  # before any switch: a bad request loads nothing
        control = control or JobControl()
        relay = None if on_image is None else (lambda index, run: on_image(index, run.generated))
        with self._busy:  # a preset's switch_model waits until the images are made
            self._use_model_of(request)
            request = replace(request, model=self.manager.info.name)
            runs, skipped = self._run_images(self.resolve(request), relay, on_progress, control)
        return GenerationResult(request, tuple(run.generated for run in runs), control.stopped, tuple(skipped))

    def run_many(
        self,
        requests: Sequence[GenerationRequest],
        on_image: ImageCallback | None = None,
        on_progress: ProgressCallback | None = None,
        control: JobControl | None = None,
    ) -> list[ImageRun]:
        """Make one-image requests as one job: every image is the one `run(request)` gives, prompt embeddings
        are computed once per distinct prompt, and `on_image(position, run)` gets each image as it is done.

        Progress events count images across the whole job (`image_index` = position in `requests`). Stop
        ends the job keeping finished images; skip drops the image in progress. All requests name one model,
        switched to first. Returns the finished images.
        """
        for request in requests:
            if request.image_count != 1:
                raise InvalidRequest("image_count", "must be 1 for each request of a multi-request job")
        if len({request.model for request in requests}) > 1:
            raise InvalidRequest("model", "must be the same for each request of a multi-request job")
        with self._busy:
            if requests:
                self._use_model_of(requests[0])
            images = [image for request in requests for image in self.resolve(request)]
            return self._run_images(images, on_image, on_progress, control or JobControl())[0]

    def _run_images(self, images, on_image, on_progress, control) -> tuple[list[ImageRun], list[int]]:
        finished: list[ImageRun] = []
        skipped: list[int] = []
        with self._busy, torch.inference_mode():
            pipeline = self.manager.pipeline
            embeddings: dict[tuple, dict] = {}
            for position, image_request in enumerate(images):
                if control.stopped:
                    break
                control.begin_image()
                self._activate_loras(pipeline, image_request)
                self.vaes.use(image_request.vae)
                key = (image_request.prompt, image_request.negative_prompt, image_request.cfg_scale, image_request.loras, image_request.performance, image_request.clip_skip)
                if key not in embeddings:
                    positive, negative = (self.embeddings.prompt_text(pipeline, text) for text in key[:2])
                    with clip_skipped(pipeline, image_request.clip_skip):
                        embeddings[key] = encode_prompts(pipeline, positive, negative, image_request.cfg_scale)
                started = time.perf_counter()
                # 16: Enhance may work on an Upscale's input first; the image records the request as asked
                sampled = enhance.before_upscale(self, pipeline, image_request, position, len(images), on_progress, control)
                latents, plan = self._sample(pipeline, sampled, position, len(images), embeddings[key], on_progress, control)
                image = None if control.interrupted else self._decode(pipeline, latents, control)
                if image is not None:
                    for hook in plan.finish_hooks:  # e.g. an inpainted crop pasted back into the input image
                        image = hook(image)
                    image = enhance.after_generation(self, pipeline, image_request, image, position, len(images), on_progress, control)
                if image is None:  # Stop or Skip, while sampling, between the tiles of a tiled decode or in Enhance
                    if not control.stopped:
                        skipped.append(position)
                    continue
                latents = torch.zeros(0) if isinstance(latents, Image.Image) else latents
                run = ImageRun(GeneratedImage(image, image_request), latents.float().cpu(), time.perf_counter() - started)
                finished.append(run)
                if on_image is not None:
                    on_image(position, run)
        return finished, skipped

    @staticmethod
    def _decode(pipeline, latents: torch.Tensor | Image.Image, control: JobControl) -> Image.Image | None:
        """The picture (a plan's loop may have made it already), or None if Stop or Skip came during a tiled
        decode: the job's control is checked before each tile."""
        if isinstance(latents, Image.Image):
            return latents

        def check() -> None:
            if control.interrupted:
                raise Interrupted

        try:
            return decode_latents(pipeline, latents, check=check)[0]
        except Interrupted:
            return None

    def _activate_loras(self, pipeline, request: GenerationRequest) -> None:
        """The image's LoRAs (its own and its performance mode's speed LoRA), active on every UNet it samples
        with: the base pipeline's (with the text encoders all UNets share) and the inpainting UNet's."""
        files = [(self.libraries.loras.path(lora.name), lora.weight) for lora in request.loras]
        speed_lora = PERFORMANCE_MODES[request.performance].speed_lora
        if speed_lora:
            try:
                files.append((self.manager.registry_file(SPEED_LORAS[speed_lora]), 1.0))
            except ModelUnavailable as error:  # say which setting needs it
                raise ModelUnavailable(f"performance: {request.performance} needs its speed LoRA. {error}") from error
        self.manager.loras.activate(pipeline, files)
        inpaint_unet = inpaint_unet_for(self.manager, request)
        if inpaint_unet is not None:
            self.manager.inpaint_loras.activate(inpaint_unet, files)

    def _sample(self, pipeline, request, position, count, prompt_embeddings, on_progress, control, plan=None) -> tuple[torch.Tensor | Image.Image | None, SamplingPlan]:
        if plan is None:  # a caller's ready plan (Enhance's regions) skips the stages
            plan = SamplingPlan()
            for stage in self.stages:
                stage(self, request, plan)
        pipeline = self.manager.pipeline_for(plan.mode, plan.controlnet_models(), plan.unet)
        guidance = _guidance_for(request, plan)
        if pipeline.vae is not self.manager.pipeline.vae:  # a derived pipeline takes the request's VAE too
            pipeline.vae = self.manager.pipeline.vae
        pipeline.scheduler = build_scheduler(request.sampler, self.manager.base_scheduler_config, request.seed, request.scheduler)
        # Noise comes from a CPU generator so a seed gives the same picture on any device.
        generator = torch.Generator("cpu").manual_seed(request.seed)

        denoising: Tile | None = None  # the tile being denoised, if the plan's loop works in tiles

        def on_step_end(pipe, step, timestep, tensors):
            for hook in plan.step_hooks:
                hook(pipe, step, timestep, tensors)
            if on_progress is not None:
                preview = latent_preview(tensors["latents"])
                tile = denoising
                if tile is None:
                    on_progress(ProgressEvent(position, count, step + 1, pipe.num_timesteps, preview))
                else:  # steps count over all tiles of the phase, so progress never goes back
                    done, total = (tile.index - 1) * pipe.num_timesteps + step + 1, tile.count * pipe.num_timesteps
                    on_progress(ProgressEvent(position, count, done, total, preview, tile.index, tile.count, tile.phase))
            if control.interrupted:  # after reporting: a Stop pressed meanwhile ends the loop now too
                pipe._interrupt = True  # diffusers' documented way to end the denoising loop early
            return {}

        # A stage may set the working size or step count (edits work at a native size, img2img takes none).
        defaults = {"width": request.width, "height": request.height, "num_inference_steps": request.steps, **plan.pipeline_arguments()}
        accepted = inspect.signature(pipeline.__call__).parameters

        def call(tile: Tile | None = None, **arguments):
            nonlocal denoising
            denoising = tile
            arguments = {k: v for k, v in {**defaults, **arguments}.items() if k in accepted or k not in ("width", "height")}
            with guidance.installed(pipeline) if guidance else nullcontext():
                return pipeline(
                    **prompt_embeddings,
                    **arguments,
                    guidance_scale=request.cfg_scale,
                    generator=generator,
                    output_type="latent",
                    callback_on_step_end=on_step_end,
                ).images

        if plan.loop is None:
            return call(), plan

        def check() -> None:
            if control.interrupted:
                raise Interrupted

        def report(tile: Tile, preview=None) -> None:
            if on_progress is not None:
                on_progress(ProgressEvent(position, count, 0, 0, preview, tile.index, tile.count, tile.phase))

        try:
            return plan.loop(LoopContext(call, check, report)), plan
        except Interrupted:  # Stop or Skip between tiles: the caller drops the image
            return None, plan


def _guidance_for(request: GenerationRequest, plan: SamplingPlan) -> SamplingGuidance | None:
    """The request's sampling-loop guidance (sharpness, ADM, adaptive CFG, FreeU), counting steps through the
    plan's step hooks; None when all are neutral, so nothing is installed."""
    settings = GuidanceSettings.of(request)
    if settings.neutral:
        return None
    guidance = SamplingGuidance(settings)
    plan.step_hooks.append(guidance.on_step_end)
    return guidance
