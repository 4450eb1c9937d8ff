"""The Fooocus look inside the denoising loop: sharpness, ADM guidance scaling, adaptive CFG and FreeU.

Re-implemented from the ideas (Fooocus's code is GPL and was not used):

- ADM guidance scaling: SDXL is conditioned on the picture's size (`time_ids`: original size, crop, target
  size). Telling the prompt branch the original was larger (×1.5) and the negative branch smaller (×0.8)
  pushes toward a detailed, high-resolution look; it stops after `adm_scale_end` of the steps.
- Sharpness: the prompt branch's predicted clean image x0 is compared with an edge-preserving blur of itself
  and pushed away from it (self-guidance: texture the blur would remove is strengthened, edges are left
  alone). The push fades linearly to nothing over the steps, so the last steps settle cleanly.
- Adaptive CFG (CFG mimicking): above `adaptive_cfg`, the guidance scale fades over the steps from the
  requested one toward `adaptive_cfg`, so a high CFG sets the composition early but does not burn the end.
- FreeU: diffusers' own `enable_freeu` on the UNet for the length of the call.

It hooks the one UNet the pipeline samples with (torch forward hooks, removed after the call): a pre-hook
changes the size conditioning, a forward hook changes the prediction so that the pipeline's own CFG step
(`uncond + g·(cond − uncond)`) gives the guided result. A neutral request installs nothing, so its images
are the ones made without this module, byte for byte.

Why not `diffusers.guiders`: those guiders are components of diffusers' modular pipelines, which run their
own denoise loop; the studio samples with the classic SDXL pipelines (text-to-image, img2img, inpaint,
ControlNet, derived with `from_pipe`), whose `__call__` takes no guider. Wrapping the UNet is the one hook
those pipelines share, and it keeps every sampler and stage (tiles, ControlNets, inpaint UNet) as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from studio.edge_filter import bilateral_blur

# x0 is pushed away from its blur by SHARPNESS_GAIN × sharpness × (1 − progress); CFG multiplies it further.
SHARPNESS_GAIN = 0.01
FREEU_OFF = (1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class GuidanceSettings:
    """A request's sampling-loop settings (see the GenerationRequest fields of the same names)."""

    sharpness: float = 0.0
    adm_scale_positive: float = 1.0
    adm_scale_negative: float = 1.0
    adm_scale_end: float = 0.3
    adaptive_cfg: float = 0.0
    freeu: tuple[float, float, float, float] = FREEU_OFF  # b1, b2, s1, s2

    @classmethod
    def of(cls, request) -> GuidanceSettings:
        return cls(
            request.sharpness,
            request.adm_scale_positive,
            request.adm_scale_negative,
            request.adm_scale_end,
            request.adaptive_cfg,
            (request.freeu_b1, request.freeu_b2, request.freeu_s1, request.freeu_s2),
        )

    @property
    def scales_adm(self) -> bool:
        return (self.adm_scale_positive, self.adm_scale_negative) != (1.0, 1.0) and self.adm_scale_end > 0

    @property
    def guides_prediction(self) -> bool:
        return self.sharpness > 0 or self.adaptive_cfg > 0

    @property
    def neutral(self) -> bool:
        return not (self.scales_adm or self.guides_prediction or self.freeu != FREEU_OFF)


class SamplingGuidance:
    """Installed around one pipeline call (`installed`); `on_step_end` is a plan step hook that counts steps."""

    def __init__(self, settings: GuidanceSettings):
        self.settings = settings
        self.step = 0
        self._pipeline = None

    def on_step_end(self, pipe, step, timestep, tensors) -> None:
        self.step = step + 1

    @contextmanager
    def installed(self, pipeline) -> Iterator[None]:
        self.step, self._pipeline = 0, pipeline
        unet, handles = pipeline.unet, []
        try:
            if self.settings.scales_adm:
                handles.append(unet.register_forward_pre_hook(self._scale_adm, with_kwargs=True))
            if self.settings.guides_prediction:
                handles.append(unet.register_forward_hook(self._guide, with_kwargs=True))
            if self.settings.freeu != FREEU_OFF:
                b1, b2, s1, s2 = self.settings.freeu
                pipeline.enable_freeu(s1=s1, s2=s2, b1=b1, b2=b2)
            yield
        finally:
            for handle in handles:
                handle.remove()
            if self.settings.freeu != FREEU_OFF:
                pipeline.disable_freeu()
            self._pipeline = None

    @property
    def progress(self) -> float:
        """How far the call's denoising is, 0 at its first step, (n−1)/n at its last."""
        total = getattr(self._pipeline, "num_timesteps", 0) or 0
        return min(self.step / total, 1.0) if total else 0.0

    def _guided_batch(self) -> bool:
        return bool(getattr(self._pipeline, "do_classifier_free_guidance", False))

    def _scale_adm(self, module, args, kwargs):
        added = kwargs.get("added_cond_kwargs")
        if not added or "time_ids" not in added or self.progress >= self.settings.adm_scale_end:
            return None
        time_ids = added["time_ids"].clone()
        if self._guided_batch():  # the pipeline batches [negative, positive]
            negative, positive = time_ids.chunk(2)
            negative[:, :2] *= self.settings.adm_scale_negative  # the original (height, width)
            positive[:, :2] *= self.settings.adm_scale_positive
            time_ids = torch.cat([negative, positive])
        else:
            time_ids[:, :2] *= self.settings.adm_scale_positive
        return args, {**kwargs, "added_cond_kwargs": {**added, "time_ids": time_ids}}

    def _guide(self, module, args, kwargs, output):
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs["timestep"]
        prediction = output[0] if isinstance(output, tuple) else output.sample
        guided = self._guided_prediction(sample, timestep, prediction)
        if isinstance(output, tuple):
            return (guided, *output[1:])
        output.sample = guided
        return output

    def _guided_prediction(self, sample, timestep, prediction):
        pipeline, settings = self._pipeline, self.settings
        batched = self._guided_batch()
        uncond, cond = prediction.chunk(2) if batched else (None, prediction)
        latents = (sample.chunk(2)[1] if batched else sample)[:, : cond.shape[1]]  # inpaint UNets take 9 channels
        fade = 1.0 - self.progress
        if settings.sharpness > 0 and fade > 0:
            cond = sharpened(
                cond, latents, pipeline.scheduler, timestep, SHARPNESS_GAIN * settings.sharpness * fade
            )
        if batched and 0 < settings.adaptive_cfg < pipeline.guidance_scale:
            scale = pipeline.guidance_scale
            mimicked = settings.adaptive_cfg + (scale - settings.adaptive_cfg) * fade
            cond = uncond + (cond - uncond) * (mimicked / scale)  # the pipeline's CFG then gives `mimicked`
        return torch.cat([uncond, cond]) if batched else cond


def sharpened(prediction, latents, scheduler, timestep, amount: float):
    """`prediction` (the model's output for `latents` at `timestep`) changed so that its clean image x0 is
    pushed `amount` away from an edge-preserving blur of x0. Epsilon, v and sample predictions."""
    kind = scheduler.config.get("prediction_type", "epsilon")
    alpha, sigma = _signal_and_noise(scheduler, timestep)
    if kind == "epsilon":
        clean = (latents - sigma * prediction) / alpha
    elif kind == "v_prediction":
        clean = alpha * latents - sigma * prediction
    elif kind == "sample":
        clean = prediction
    else:
        return prediction
    change = amount * (clean - bilateral_blur(clean))
    if kind == "epsilon":
        return prediction - change * (alpha / sigma)
    if kind == "v_prediction":
        return prediction - change / sigma
    return prediction + change


def _signal_and_noise(scheduler, timestep) -> tuple[float, float]:
    """(√ᾱ, √(1−ᾱ)) at a (possibly fractional) training timestep, interpolated in log σ as the Karras-sigma
    schedulers place their timesteps."""
    cumulative = scheduler.alphas_cumprod.double()
    t = float(timestep.flatten()[0]) if isinstance(timestep, torch.Tensor) else float(timestep)
    t = min(max(t, 0.0), len(cumulative) - 1.0)
    low, frac = int(t), t - int(t)
    high = min(low + 1, len(cumulative) - 1)
    log_sigmas = (((1 - cumulative) / cumulative) ** 0.5).log()
    sigma = float((log_sigmas[low] * (1 - frac) + log_sigmas[high] * frac).exp())
    alpha = (1 + sigma * sigma) ** -0.5
    return alpha, sigma * alpha
