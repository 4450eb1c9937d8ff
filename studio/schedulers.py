"""The sampler table: display name -> diffusers scheduler class and its settings.

Names are plain data so validation can check them without importing torch; `build_scheduler` turns one
into a scheduler with `from_config`, keeping the model's own noise schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class SamplerSpec:
    class_name: str
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # True where the sampler draws fresh noise every step: its result changes with the step count.
    stochastic: bool = False
    # Schedulers that draw noise outside the pipeline's generator take the seed as this option.
    seed_option: str | None = None


def _spec(class_name: str, stochastic: bool = False, seed_option: str | None = None, **options) -> SamplerSpec:
    return SamplerSpec(class_name, MappingProxyType(options), stochastic, seed_option)


SAMPLERS: MappingProxyType = MappingProxyType(
    {
        "Euler": _spec("EulerDiscreteScheduler"),
        "Euler a": _spec("EulerAncestralDiscreteScheduler", stochastic=True),
        "DPM++ 2M": _spec("DPMSolverMultistepScheduler", algorithm_type="dpmsolver++"),
        "DPM++ 2M Karras": _spec("DPMSolverMultistepScheduler", algorithm_type="dpmsolver++", use_karras_sigmas=True),
        "DPM++ 2M SDE Karras": _spec(
            "DPMSolverMultistepScheduler", stochastic=True, algorithm_type="sde-dpmsolver++", use_karras_sigmas=True
        ),
        "DPM++ SDE Karras": _spec(
            "DPMSolverSDEScheduler", stochastic=True, seed_option="noise_sampler_seed", use_karras_sigmas=True
        ),
        "DDIM": _spec("DDIMScheduler"),
        "UniPC": _spec("UniPCMultistepScheduler"),
        "Heun": _spec("HeunDiscreteScheduler"),
        "LMS": _spec("LMSDiscreteScheduler"),
        # The few-step samplers that the speed LoRAs were distilled for (see performance.py).
        "LCM": _spec("LCMScheduler", stochastic=True),
        "Euler trailing": _spec("EulerDiscreteScheduler", timestep_spacing="trailing"),
        "TCD": _spec("TCDScheduler", stochastic=True, timestep_spacing="trailing"),
    }
)
SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
DEFAULT_SAMPLER = "DPM++ 2M SDE Karras"


def build_scheduler(name: str, base_config, seed: int):
    """A fresh scheduler for one image: the sampler's class on the model's own schedule config."""
    import diffusers

    spec = SAMPLERS[name]
    options = dict(spec.options)
    if spec.seed_option:
        options[spec.seed_option] = seed
    scheduler_class = getattr(diffusers, spec.class_name)
    return scheduler_class.from_config(base_config, **options)
