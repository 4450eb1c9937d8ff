"""Mode switches: txt2img -> img2img -> inpaint -> ControlNet -> txt2img through `PipelineManager.pipeline_for`.

Derived pipelines share the resident modules (`from_pipe`), so a switch must load no weights: the UNet object
stays the same, and resident memory barely moves. The first cycle builds each derived pipeline once; later
cycles find them cached.
"""

from __future__ import annotations

import gc
import statistics
import time

from benchmarks.common import rss_bytes

SWITCH_ORDER = ("txt2img", "img2img", "inpaint", "controlnet", "txt2img")


class WeightsReloaded(AssertionError):
    """A mode switch gave a pipeline with a different UNet: weights were loaded again."""


def tiny_controlnet(unet):
    """A ControlNet shaped like the loaded UNet (random weights; speed and memory are what is measured)."""
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    return ControlNetModel.from_unet(unet).eval()


def measure_mode_switches(manager, controlnet, cycles: int = 3) -> dict:
    """Seconds per switch (first cycle and cached cycles separately) and resident memory around the cycles."""
    unet = manager.pipeline.unet
    gc.collect()
    rss_before = rss_bytes()
    first, cached = [], []
    for cycle in range(cycles):
        for mode in SWITCH_ORDER:
            started = time.perf_counter()
            pipeline = (
                manager.pipeline_for("txt2img", (controlnet,)) if mode == "controlnet" else manager.pipeline_for(mode)
            )
            seconds = time.perf_counter() - started
            if pipeline.unet is not unet:
                raise WeightsReloaded(f"switching to {mode} gave a different UNet object: weights were reloaded")
            (first if cycle == 0 else cached).append(seconds)
        if cycle == 0:
            gc.collect()
            rss_after_first = rss_bytes()
    gc.collect()
    rss_after = rss_bytes()
    mib = 1024**2
    return {
        "benchmark": "mode_switch",
        "order": " -> ".join(SWITCH_ORDER),
        "cycles": cycles,
        "same_unet": True,
        "first_cycle_mean_s": round(statistics.mean(first), 5),
        "cached_mean_s": round(statistics.mean(cached), 6) if cached else None,
        "max_switch_s": round(max(first + cached), 5),
        "rss_before_mib": round(rss_before / mib, 1),
        "rss_after_first_cycle_mib": round(rss_after_first / mib, 1),
        "rss_after_mib": round(rss_after / mib, 1),
        "rss_growth_mib": round((rss_after - rss_before) / mib, 1),
    }
