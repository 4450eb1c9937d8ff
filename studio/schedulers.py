"""The sampler table: display name -> diffusers scheduler class and its settings, and the noise schedules
(`scheduler`) that can replace a sampler's own.

Names are plain data so validation can check them without importing torch; `build_scheduler` turns one
into a scheduler with `from_config`, keeping the model's own noise schedule. Some sampler names carry their
schedule ("DPM++ 2M SDE Karras"): with the scheduler "default" each sampler keeps exactly the settings it
always had, so old images re-make byte for byte; another scheduler replaces only the schedule settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from studio.limits import echo


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
        "DPM++ 3M SDE": _spec("DPMSolverMultistepScheduler", stochastic=True, algorithm_type="sde-dpmsolver++", solver_order=3),
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


# 15: the noise schedule apart from the sampler. "default" = the sampler's own (neutral). Another one drops
# the sampler's schedule options (`_SCHEDULE_OPTIONS`) and sets its own: the checkpoint's spacing unless it
# names one, and every sigma option, so none the sampler or checkpoint implied is left on beside it.
DEFAULT_SCHEDULE = "default"
_SIGMA_OPTIONS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")
_SCHEDULE_OPTIONS = (*_SIGMA_OPTIONS, "timestep_spacing")
_PLAIN_SCHEDULE = MappingProxyType({option: False for option in _SIGMA_OPTIONS})
SCHEDULES: MappingProxyType = MappingProxyType(
    {
        DEFAULT_SCHEDULE: MappingProxyType({}),
        "karras": MappingProxyType({**_PLAIN_SCHEDULE, "use_karras_sigmas": True}),
        "exponential": MappingProxyType({**_PLAIN_SCHEDULE, "use_exponential_sigmas": True}),
        "beta": MappingProxyType({**_PLAIN_SCHEDULE, "use_beta_sigmas": True}),
        # Uniform in time from the very first (noisiest) timestep: diffusers' "trailing" spacing.
        "sgm_uniform": MappingProxyType({**_PLAIN_SCHEDULE, "timestep_spacing": "trailing"}),
    }
)
SCHEDULE_NAMES: tuple[str, ...] = tuple(SCHEDULES)
# The scheduler classes that take sigma schedules (karras, exponential, beta); every class takes a spacing.
_SIGMA_CLASSES = frozenset(
    {
        "EulerDiscreteScheduler",
        "DPMSolverMultistepScheduler",
        "DPMSolverSDEScheduler",
        "UniPCMultistepScheduler",
        "HeunDiscreteScheduler",
        "LMSDiscreteScheduler",
    }
)


def schedule_works_with(schedule: str, sampler: str) -> bool:
    """Whether `schedule` can drive `sampler` (ancestral, DDIM and distilled samplers take no sigma schedule)."""
    sigmas = any(SCHEDULES[schedule].get(option) for option in _SIGMA_OPTIONS)
    return not sigmas or SAMPLERS[sampler].class_name in _SIGMA_CLASSES


def schedule_problem(schedule: str, sampler: str) -> str | None:
    """Why `schedule` cannot be used with `sampler` (for InvalidRequest naming `scheduler`), or None."""
    if schedule not in SCHEDULES:
        return f"'{echo(schedule)}' is unknown; choose one of: {', '.join(SCHEDULE_NAMES)}"
    if sampler in SAMPLERS and not schedule_works_with(schedule, sampler):
        usable = [name for name in SCHEDULE_NAMES if schedule_works_with(name, sampler)]
        return f"'{schedule}' does not work with the sampler '{sampler}'; with it choose one of: {', '.join(usable)}"
    return None


def build_scheduler(name: str, base_config, seed: int, schedule: str = DEFAULT_SCHEDULE):
    """A fresh scheduler for one image: the sampler's class on the model's own schedule config, its noise
    schedule replaced by `schedule` unless that is "default"."""
    import diffusers

    spec = SAMPLERS[name]
    options = dict(spec.options)
    if schedule != DEFAULT_SCHEDULE:
        options = {key: value for key, value in options.items() if key not in _SCHEDULE_OPTIONS}
        options.update(SCHEDULES[schedule])
        if spec.class_name not in _SIGMA_CLASSES:  # they take no sigma options (validation allows none on)
            options = {key: value for key, value in options.items() if key not in _SIGMA_OPTIONS}
    if spec.seed_option:
        options[spec.seed_option] = seed
    scheduler_class = getattr(diffusers, spec.class_name)
    return scheduler_class.from_config(base_config, **options)
