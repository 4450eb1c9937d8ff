"""The engine: runs one validated request through its stages. The only place that calls a pipeline."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from studio.decode import decode_latents, latent_preview
from studio.jobs import JobControl
from studio.models import PipelineManager
from studio.schedulers import build_scheduler
from studio.types import GeneratedImage, GenerationRequest, GenerationResult, ProgressEvent, validate_request

ProgressCallback = Callable[[ProgressEvent], None]


class Engine:
    def __init__(self, manager: PipelineManager):
        self.manager = manager
        # One job at a time owns the models: the pipeline's scheduler is swapped per image.
        self._busy = threading.Lock()

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        return validate_request(request, self.manager.info.size_limit)

    def run(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        control: JobControl | None = None,
    ) -> GenerationResult:
        request = self.validate(request)
        control = control or JobControl()
        images: list[GeneratedImage] = []
        skipped: list[int] = []
        with self._busy, torch.inference_mode():
            pipeline = self.manager.pipeline
            prompt_embeddings = self._encode_prompt(pipeline, request)
            for index in range(request.image_count):
                if control.stopped:
                    break
                control.begin_image()
                latents = self._sample(pipeline, request, index, prompt_embeddings, on_progress, control)
                if control.interrupted:
                    if not control.stopped:
                        skipped.append(index)
                    continue
                image = decode_latents(pipeline, latents)[0]
                images.append(GeneratedImage(image=image, request=request.for_image(index)))
        return GenerationResult(request, tuple(images), stopped=control.stopped, skipped=tuple(skipped))

    def _encode_prompt(self, pipeline, request: GenerationRequest) -> dict:
        """Prompt embeddings once per request: every image of it shares them."""
        embeds, negative, pooled, negative_pooled = pipeline.encode_prompt(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            device=pipeline._execution_device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=request.cfg_scale > 1,
        )
        return dict(
            prompt_embeds=embeds,
            negative_prompt_embeds=negative,
            pooled_prompt_embeds=pooled,
            negative_pooled_prompt_embeds=negative_pooled,
        )

    def _sample(self, pipeline, request, index, prompt_embeddings, on_progress, control) -> torch.Tensor:
        seed = request.image_seed(index)
        pipeline.scheduler = build_scheduler(request.sampler, self.manager.base_scheduler_config, seed)
        # Noise comes from a CPU generator so a seed gives the same picture on any device.
        generator = torch.Generator("cpu").manual_seed(seed)

        def on_step_end(pipe, step, timestep, tensors):
            if control.interrupted:
                pipe._interrupt = True  # diffusers' documented way to end the denoising loop early
            if on_progress is not None:
                preview = latent_preview(tensors["latents"])
                on_progress(ProgressEvent(index, request.image_count, step + 1, pipe.num_timesteps, preview))
            return {}

        return pipeline(
            **prompt_embeddings,
            width=request.width,
            height=request.height,
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            generator=generator,
            output_type="latent",
            callback_on_step_end=on_step_end,
        ).images
