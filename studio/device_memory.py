"""Taking a pipeline off the GPU and putting it back exactly as it was, so a model switch never needs device
memory for two models at once (ComfyUI's "free memory before loading").

`release_from_device` moves every module of a pipeline to CPU memory (removing accelerate's model CPU offload
hooks first) and returns its `Placement`; `restore_to_device` puts it back there with the same plan. A
pipeline already wholly in CPU memory (the CPU device) is not touched at all, so CPU results stay identical.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where a pipeline's modules were before `release_from_device` took them to the CPU."""

    device: torch.device  # where its modules sat (the CPU: nothing was moved)
    offload_device: torch.device | None = None  # accelerate's model CPU offload ran them here


def release_from_device(pipeline) -> Placement:
    """Move the pipeline's modules to CPU memory and say where they were (see `restore_to_device`)."""
    modules = _modules(pipeline)
    offloaded = any(hasattr(module, "_hf_hook") for module in modules)
    offload_device = (getattr(pipeline, "_offload_device", None) or pipeline._execution_device) if offloaded else None
    # The first device that is not the CPU: a pipeline whose placement failed half way is partly there.
    devices = (tensor.device for module in modules for tensor in [*module.parameters(), *module.buffers()])
    placement = Placement(next((d for d in devices if d.type != "cpu"), torch.device("cpu")), offload_device)
    if placement.offload_device is None and placement.device.type == "cpu":
        return placement
    if offloaded:
        pipeline.remove_all_hooks()
    with fused_views_kept(pipeline):
        pipeline.to("cpu", silence_dtype_warnings=True)  # fp16 weights are only kept there
    log.info("moved the pipeline from %s to CPU memory", placement.offload_device or placement.device)
    return placement


def restore_to_device(pipeline, placement: Placement) -> None:
    """Put a released pipeline back where it was, with the same memory plan (VAE tiling and slicing are
    switches on the VAE itself, so they stayed as they were)."""
    if placement.offload_device is not None:
        with fused_views_kept(pipeline):
            pipeline.enable_model_cpu_offload(device=placement.offload_device)
    elif placement.device.type != "cpu":
        with fused_views_kept(pipeline):
            pipeline.to(placement.device)
    log.info("put the pipeline back on %s", placement.offload_device or placement.device)


def free_memory() -> None:
    """Collect what nothing refers to any more and hand the CUDA cache's free blocks back to the driver."""
    gc.collect()
    torch.cuda.empty_cache()  # a no-op where CUDA was never initialised


def _modules(pipeline) -> list[torch.nn.Module]:
    return [module for module in pipeline.components.values() if isinstance(module, torch.nn.Module)]


@contextmanager
def fused_views_kept(pipeline):
    """Fused QKV (performance_policy.fuse_qkv) keeps the separate q/k/v weights as views of the fused one.
    `Module.to` copies each weight on its own, which would turn those views into copies (about 1.5 GB more
    for an SDXL UNet): detach them for the move and make them views of the moved fused weight again."""
    from studio.performance_policy import fused_attention_parts, view_parts_of_fused

    fused = [
        (projection, layers, [layer.weight.shape[0] for layer in layers])
        for model in _modules(pipeline)
        for projection, layers in fused_attention_parts(model)
    ]
    for projection, layers, _rows in fused:
        for layer in layers:
            layer.weight.data = layer.weight.data.new_empty(0)
            if layer.bias is not None and projection.bias is not None:
                layer.bias.data = layer.bias.data.new_empty(0)
    try:
        yield
    finally:
        for projection, layers, rows in fused:
            view_parts_of_fused(projection, layers, rows)
