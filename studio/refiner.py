"""The refiner: a second SDXL checkpoint of `<models-dir>/checkpoints/` that takes over the denoising at
`refiner_switch` (a fraction of the steps), as Fooocus does. '' (no refiner) or a switch of 1.0 samples
exactly as without one.

The base model samples steps [0, switch) and hands its latents over; the refiner, as an img2img pipeline,
samples [switch, 1] with the same sampler, schedule and step count, on its own text encoders' encoding of
the prompts (so a fine-tuned refiner reads them its own way), and the base model's VAE decodes. It works for
text-to-image requests (an edit or image prompts with a refiner are refused, naming `refiner`).

Memory policy: the base model stays resident. The refiner is read once and kept beside it, placed by the
same memory plan as any model (`performance_policy.place_pipeline`: on the device when free memory allows,
else offloaded to CPU memory between uses); choosing another refiner frees the previous one first, and a
switch of the base model drops it (it is read again on next use).
"""

from __future__ import annotations

import logging

from studio.limits import InvalidRequest, echo

log = logging.getLogger(__name__)

NO_REFINER = ""


def check_refiner(request, library) -> None:
    """InvalidRequest naming `refiner` for a name the checkpoint library lacks, or a request it cannot refine."""
    if request.refiner == NO_REFINER:
        return
    if library.find(request.refiner) is None:
        raise InvalidRequest(
            "refiner", f"'{echo(request.refiner)}' is not a checkpoint in <models-dir>/checkpoints (see the Models tab)"
        )
    if request.edit is not None or request.image_prompts:
        raise InvalidRequest("refiner", "works with text-to-image requests only; choose no refiner for input-image work")


def refines(request) -> bool:
    return request.refiner != NO_REFINER and request.refiner_switch < 1.0


class RefinerStage:
    """A sampling stage (see sampling_plan.py): with a refiner, the plan's loop samples base then refiner."""

    def __init__(self, manager, embedding_library):
        from studio.embeddings import EmbeddingTokens

        self.manager = manager
        self.embeddings = EmbeddingTokens(embedding_library)  # the refiner's own tokenizers and encoders
        self._name: str | None = None
        self._pipeline = None  # the refiner as an img2img pipeline
        self._scheduler_config = None  # its checkpoint's own schedule, which every sampler is built on
        manager.add_release_hook(self.release)

    def __call__(self, engine, request, plan) -> None:
        if not refines(request):
            return
        refiner = self._load(request.refiner)
        from studio.conditioning import encode_prompts

        prompts = (self.embeddings.prompt_text(refiner, text) for text in (request.prompt, request.negative_prompt))
        embeddings = encode_prompts(refiner, *prompts, request.cfg_scale)
        plan.loop = lambda context: self._sample(refiner, request, embeddings, context)

    def _sample(self, refiner, request, embeddings, context):
        import torch

        from studio.sampling_plan import Interrupted, Tile
        from studio.schedulers import build_scheduler

        latents = context.call(denoising_end=request.refiner_switch)
        context.check()
        context.report(Tile("refiner", 1, 1))
        refiner.scheduler = build_scheduler(request.sampler, self._scheduler_config, request.seed, request.scheduler)

        def on_step_end(pipe, step, timestep, tensors):
            try:
                context.check()
            except Interrupted:
                pipe._interrupt = True  # the engine sees the Stop or Skip once the call returns
            return {}

        latents = refiner(
            **embeddings,
            image=latents,
            denoising_start=request.refiner_switch,
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="latent",
            callback_on_step_end=on_step_end,
        ).images
        context.check()
        return latents

    def _load(self, name: str):
        if self._name != name:
            self.release()  # the previous refiner leaves before the next is placed
            from diffusers import StableDiffusionXLImg2ImgPipeline

            from studio import performance_policy

            path = self.manager.checkpoints.find(name)
            if path is None:
                raise InvalidRequest("refiner", f"'{echo(name)}' is not a checkpoint in <models-dir>/checkpoints")
            pipeline = self.manager.read_checkpoint(str(path), "refiner")
            policy, settings = self.manager.policy, self.manager.settings
            performance_policy.place_pipeline(pipeline, policy.device, policy.dtype, settings.vram)
            refiner = StableDiffusionXLImg2ImgPipeline.from_pipe(pipeline)
            refiner.set_progress_bar_config(disable=True)
            self._name, self._pipeline, self._scheduler_config = name, refiner, pipeline.scheduler.config
            log.info("loaded the refiner %s on %s", name, policy.device)
        return self._pipeline

    def release(self) -> None:
        """Drop the refiner (before a base-model switch, or for another refiner)."""
        if self._pipeline is None:
            return
        from studio import device_memory

        self._name, self._pipeline = None, None
        device_memory.free_memory()
