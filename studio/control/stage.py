"""The image-prompt stage: turns a request's `image_prompts` slots into a SamplingPlan.

ControlNet slots (PyraCanny, CPDS, Depth, Pose) become `ControlNetUse`s (weight -> conditioning scale,
stop-at -> `control_guidance_end`; Depth and Pose maps come from the annotator models); adapter slots (ImagePrompt, FaceSwap) become IP-Adapter image embeddings
with one scale per slot that a step hook drops to 0 once the slot's stop-at is passed. Slots with weight 0 or
stop-at 0 do nothing, so they are skipped: the image is exactly the one made without them.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from studio import registry
from studio.control import ip_adapter
from studio.control.annotators import Annotators
from studio.control.controlnets import ControlNets
from studio.control.maps import ADAPTER_TYPES, slot_input
from studio.sampling_plan import ControlNetUse, SamplingPlan
from studio.types import GenerationRequest, ImagePrompt

MAP_CACHE_SIZE = 16


class ImagePromptStage:
    """`stage(engine, request, plan)`; owns the loaded ControlNets and IP-Adapters for its manager."""

    def __init__(self, manager):
        self.manager = manager
        self.adapters = ip_adapter.IpAdapters(self.folder_for)
        manager.add_release_hook(self.adapters.release)  # adapters live in the UNet: dropped with it
        self._controlnets: ControlNets | None = None
        self._annotators: Annotators | None = None
        self._maps: OrderedDict = OrderedDict()

    def folder_for(self, model: registry.HubModel) -> Path:
        """A registry model's folder. A random-weights (tiny) base gets tiny random models in the same file
        layout, built once under `<models-dir>/tiny-registry/`, so real downloads are never shadowed."""
        if self.manager.info.random_weights:
            from studio import tiny

            return tiny.ensure_tiny_registry_model(self.manager.settings.models_dir / "tiny-registry", model)
        return self.manager.registry_folder(model)

    @property
    def controlnets(self) -> ControlNets:
        if self._controlnets is None:
            self._controlnets = ControlNets(self.folder_for, self.manager.policy.device, self.manager.policy.dtype)
        return self._controlnets

    @property
    def annotators(self) -> Annotators:
        """The Depth and Pose annotator models (loaded on first use), on the pipeline's device."""
        if self._annotators is None:
            self._annotators = Annotators(self.folder_for, self.manager.policy.device, self.manager.policy.dtype)
        return self._annotators

    def preview(
        self, image, slot_type: str, width: int, height: int, skip_preprocess: bool = False, field: str = "image"
    ):
        """What a slot would feed its model (for the UI's preview), with this stage's annotators."""
        return slot_input(image, slot_type, width, height, skip_preprocess, field, annotators=self.annotators)

    def slot_image(self, inputs, index: int, slot: ImagePrompt, width: int, height: int):
        """The (cached) image slot `index` feeds its model: map, face crop or image prompt."""
        key = (slot.image, slot.type, width, height, slot.skip_preprocess)
        if key not in self._maps:
            field = f"image_prompts[{index}]"
            image = inputs.get(slot.image, f"{field}.image")
            self._maps[key] = slot_input(
                image, slot.type, width, height, slot.skip_preprocess, field, annotators=self.annotators
            )
            while len(self._maps) > MAP_CACHE_SIZE:
                self._maps.popitem(last=False)
        self._maps.move_to_end(key)
        return self._maps[key]

    def __call__(self, engine, request: GenerationRequest, plan: SamplingPlan) -> None:
        # The pipeline whose UNet this image samples with: the edit stage, which runs first, may have chosen
        # the inpainting UNet; adapters act in the UNet, whichever pipeline carries the ControlNets.
        pipeline = self.manager.pipeline if plan.unet is None else self.manager.pipeline_for(plan.mode, (), plan.unet)
        slots = [(i, slot) for i, slot in enumerate(request.image_prompts) if slot.weight > 0 and slot.stop_at > 0]
        # Every slot's input first: a missing face or image fails the request before any model changes.
        images = {i: self.slot_image(engine.inputs, i, slot, request.width, request.height) for i, slot in slots}
        adapter_slots = [(i, slot) for i, slot in slots if slot.type in ADAPTER_TYPES]
        if not adapter_slots:
            ip_adapter.deactivate(pipeline.unet)
        for i, slot in slots:
            if slot.type not in ADAPTER_TYPES:
                plan.controlnets.append(
                    ControlNetUse(self.controlnets.model_for(slot.type), images[i], slot.weight, slot.stop_at)
                )
        if adapter_slots:
            self._plan_adapters(pipeline, request, plan, adapter_slots, images)

    def _plan_adapters(self, pipeline, request, plan, adapter_slots, images) -> None:
        adapters = self.adapters
        adapters.activate(pipeline)
        pairs: list[list] = [[] for _ in ip_adapter.ADAPTER_TYPES]
        weights: list[list[tuple[float, float]]] = [[] for _ in ip_adapter.ADAPTER_TYPES]
        for i, slot in adapter_slots:
            which = ip_adapter.ADAPTER_TYPES.index(slot.type)
            key = f"{slot.type}:{slot.image}:{int(slot.skip_preprocess)}"
            pairs[which].append(adapters.embed(key, images[i]))
            weights[which].append((slot.weight, slot.stop_at))
        guidance = request.cfg_scale > 1 and pipeline.unet.config.time_cond_proj_dim is None
        plan.arguments["ip_adapter_image_embeds"] = adapters.image_embeds(pairs, guidance)
        ip_adapter.set_scales(pipeline.unet, [ip_adapter.active_scales(w, 0, request.steps) for w in weights])

        def stop_slots(pipe, step, timestep, tensors):
            ip_adapter.set_scales(
                pipe.unet, [ip_adapter.active_scales(w, step + 1, pipe.num_timesteps) for w in weights]
            )

        plan.step_hooks.append(stop_slots)
