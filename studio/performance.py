"""Performance modes: how many steps, and for the few-step modes a speed LoRA with its forced settings.

Quality and Speed only suggest a step count (front ends put it in the steps field). The LoRA modes force
steps, guidance and sampler, because the distilled LoRAs only work with those; `apply_performance` writes
them into the request, so what is recorded in the metadata is what ran.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from studio.schedulers import DEFAULT_SCHEDULE

if TYPE_CHECKING:
    from studio.types import GenerationRequest


@dataclass(frozen=True)
class PerformanceMode:
    name: str
    steps: int
    forced: bool = False  # steps, cfg_scale and sampler are the mode's, whatever the request says
    cfg_scale: float | None = None
    sampler: str | None = None
    speed_lora: str | None = None  # key of registry.SPEED_LORAS

    def describe(self) -> str:
        if not self.forced:
            return f"{self.steps} steps"
        return f"{self.steps} steps, CFG {self.cfg_scale:g}, {self.sampler}, {self.name} LoRA"


PERFORMANCE_MODES = MappingProxyType(
    {
        mode.name: mode
        for mode in (
            PerformanceMode("Quality", steps=60),
            PerformanceMode("Speed", steps=30),
            PerformanceMode("Extreme Speed", 8, forced=True, cfg_scale=1.0, sampler="LCM", speed_lora="lcm"),
            PerformanceMode("Lightning", 4, forced=True, cfg_scale=1.0, sampler="Euler trailing", speed_lora="lightning"),
            PerformanceMode("Hyper-SD", 8, forced=True, cfg_scale=1.0, sampler="TCD", speed_lora="hyper-sd"),
        )
    }
)
PERFORMANCE_NAMES = tuple(PERFORMANCE_MODES)
DEFAULT_PERFORMANCE = "Speed"


def apply_performance(request: GenerationRequest) -> GenerationRequest:
    mode = PERFORMANCE_MODES[request.performance]
    if not mode.forced:
        return request
    # 15B: the sampler's own schedule too, which is what the distilled LoRA was made for
    return replace(request, steps=mode.steps, cfg_scale=mode.cfg_scale, sampler=mode.sampler, scheduler=DEFAULT_SCHEDULE)
