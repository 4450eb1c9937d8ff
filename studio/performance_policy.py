"""How the resident pipeline is made fast on a GPU (the fast path) and made to fit (the memory plan).

Both are chosen once at start-up from `Settings.fast_path` and `Settings.vram` and applied by the
PipelineManager right after loading; nothing here runs at import time and torch is imported lazily.

Fast path (CUDA only by default; on the CPU every step is skipped, so CPU results stay byte-identical):

- half-precision weights (fp16, or bf16 with `--dtype bfloat16`) - the DevicePolicy's dtype;
- SDPA attention (diffusers' default `AttnProcessor2_0`; `sdpa=False` falls back to the classic processor);
- channels_last memory format for the UNet and VAE convolutions;
- fused QKV projections (one matmul instead of three). LoRAs are peft adapters on `to_q`/`to_k`/`to_v`,
  which a fused projection bypasses, so `FusionAwareLoras` unfuses before any LoRA is used and fuses again
  when a request uses none (on the base UNet and, for inpaints on `--inpaint-model`, the inpainting UNet);
- CFG as one batch: diffusers already evaluates the conditional and unconditional halves in one UNet call;
- an fp16-safe VAE (the fp16-fix VAE, swapped in by the PipelineManager), so decoding needs no fp32 upcast;
- `torch.compile` of the UNet, opt-in: compiled in place (`Module.compile`, the object stays the same), once
  per input shape, and reused by every later request of that shape;
- a warm-up generation at the default size on start, so the first user request does not pay for
  cuDNN autotuning, allocator growth or compilation.

Memory plan (`--vram`): `high` keeps every model on the GPU; `low` also decodes the VAE in tiles and slices;
`cpu-offload` keeps models in CPU memory and moves each to the GPU only while it runs (accelerate's model
offload), with VAE tiling; `auto` picks one from the free CUDA memory (`choose_memory_plan`, a pure function).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, replace

log = logging.getLogger(__name__)

DTYPE_CHOICES = ("float16", "bfloat16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
VRAM_MODES = ("auto", "high", "low", "cpu-offload")
GIB = 1024**3
# Working memory beyond the weights for SDXL at 1024x1024: batch-4 CFG activations plus an untiled fp16
# VAE decode need about this much; below it, decode in tiles; below the second figure, offload models.
HIGH_VRAM_HEADROOM = 6 * GIB
LOW_VRAM_HEADROOM = int(1.5 * GIB)


@dataclass(frozen=True)
class FastPath:
    """Switches of the GPU fast path. `enabled=False` is the bare baseline (dtype and SDPA only)."""

    enabled: bool = True
    dtype: str = "float16"  # weights on CUDA; the CPU always computes in float32
    sdpa: bool = True
    channels_last: bool = True
    fuse_qkv: bool = True
    compile: bool = False  # opt-in: the first request of each new shape pays the compile time
    compile_mode: str = "max-autotune-no-cudagraphs"
    warmup: bool = True
    devices: tuple[str, ...] = ("cuda",)  # where the switches apply; tests add "cpu"

    def __post_init__(self):
        if self.dtype not in DTYPE_CHOICES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPE_CHOICES)}, not '{self.dtype}'")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"--compile mode must be one of {', '.join(COMPILE_MODES)}, not '{self.compile_mode}'")

    def applies_on(self, device: str) -> bool:
        return self.enabled and device in self.devices

    def summary(self, device: str) -> str:
        if not self.applies_on(device):
            return "off" if not self.enabled else f"off on {device}"
        names = [self.dtype, "sdpa" if self.sdpa else "classic attention"]
        names += [name for name, on in (("channels_last", self.channels_last), ("fused qkv", self.fuse_qkv)) if on]
        if self.compile:
            names.append(f"compile({self.compile_mode})")
        return ", ".join(names)


BASELINE = FastPath(enabled=False)


@dataclass(frozen=True)
class MemoryPlan:
    mode: str  # "high", "low", "cpu-offload", or "cpu" (no GPU: nothing to plan)
    model_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False
    reason: str = ""


def choose_memory_plan(requested: str, device: str, free_bytes: int | None = None, model_bytes: int = 0) -> MemoryPlan:
    """The memory plan for `--vram requested`: forced modes as asked, `auto` from the free CUDA memory
    (`free_bytes`) against what the models' weights take (`model_bytes`). Pure: callers measure."""
    if requested not in VRAM_MODES:
        raise ValueError(f"--vram must be one of {', '.join(VRAM_MODES)}, not '{requested}'")
    if device != "cuda":
        return MemoryPlan("cpu", reason="no GPU in use")
    if requested == "auto":
        if free_bytes is None:
            requested, why = "high", "free memory unknown"
        else:
            spare = free_bytes - model_bytes
            requested = (
                "high" if spare >= HIGH_VRAM_HEADROOM else "low" if spare >= LOW_VRAM_HEADROOM else "cpu-offload"
            )
            why = f"auto: {free_bytes / GIB:.1f} GiB free for {model_bytes / GIB:.1f} GiB of weights"
    else:
        why = "forced by --vram"
    if requested == "high":
        return MemoryPlan("high", reason=why)
    if requested == "low":
        return MemoryPlan("low", vae_tiling=True, vae_slicing=True, reason=why)
    return MemoryPlan("cpu-offload", model_offload=True, vae_tiling=True, vae_slicing=True, reason=why)


def model_bytes(pipeline, dtype) -> int:
    """Bytes the pipeline's weights take once cast to `dtype` (floating tensors only)."""
    import torch

    size = torch.tensor([], dtype=dtype).element_size()
    total = 0
    for module in pipeline.components.values():
        if isinstance(module, torch.nn.Module):
            for tensor in [*module.parameters(), *module.buffers()]:
                total += tensor.numel() * (size if tensor.is_floating_point() else tensor.element_size())
    return total


def free_cuda_bytes() -> int | None:
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return int(free)


def place_pipeline(pipeline, device: str, dtype, requested_vram: str = "auto") -> MemoryPlan:
    """Put the pipeline on `device` as the memory plan says, and return the plan."""
    plan = choose_memory_plan(
        requested_vram, device, free_cuda_bytes() if device == "cuda" else None, model_bytes(pipeline, dtype)
    )
    if plan.model_offload:
        pipeline.enable_model_cpu_offload(device=device)
    else:
        pipeline.to(device)
    if plan.vae_tiling:
        pipeline.vae.enable_tiling()
    if plan.vae_slicing:
        pipeline.vae.enable_slicing()
    if plan.mode != "cpu":
        log.info("memory plan %s (%s)", plan.mode, plan.reason)
    return plan


def device_policy(policy, fast_path: FastPath):
    """The DevicePolicy with the fast path's half-precision dtype on CUDA (bf16 if asked for)."""
    if policy.device == "cuda" and fast_path.enabled and policy.dtype_name != fast_path.dtype:
        return replace(policy, dtype_name=fast_path.dtype)
    return policy


def apply_fast_path(pipeline, fast_path: FastPath, device: str) -> tuple[str, ...]:
    """Apply the fast path's switches to a loaded, placed pipeline; returns the names of what was applied."""
    if not fast_path.applies_on(device):
        return ()
    import torch

    applied = []
    if not fast_path.sdpa:
        from diffusers.models.attention_processor import AttnProcessor

        pipeline.unet.set_attn_processor(AttnProcessor())
        pipeline.vae.set_attn_processor(AttnProcessor())
        applied.append("classic attention")
    if fast_path.channels_last:
        pipeline.unet.to(memory_format=torch.channels_last)
        pipeline.vae.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    if fast_path.fuse_qkv and fast_path.sdpa:
        fuse_qkv(pipeline.unet)
        fuse_qkv(pipeline.vae)
        applied.append("fused qkv")
    if fast_path.compile:
        pipeline.unet.compile(mode=fast_path.compile_mode, fullgraph=False, dynamic=False)
        applied.append(f"compile({fast_path.compile_mode})")
    return tuple(applied)


def is_fused(model) -> bool:
    return any(getattr(module, "fused_projections", False) for module in model.modules())


def fuse_qkv(model) -> None:
    """Fuse each attention's q/k/v (or k/v) projections into one matmul. The separate projections keep their
    modules (LoRA adapters attach there) but their weights become views of the fused one: no extra memory."""
    if is_fused(model):
        return
    model.fuse_qkv_projections()
    for fused, layers in fused_attention_parts(model):
        view_parts_of_fused(fused, layers, [layer.weight.shape[0] for layer in layers])


def fused_attention_parts(model):
    """(fused projection, its separate q/k/v or k/v Linear layers) of each fused attention in `model`."""
    from diffusers.models.attention_processor import Attention

    for module in model.modules():
        if not isinstance(module, Attention) or not getattr(module, "fused_projections", False):
            continue
        fused = getattr(module, "to_qkv", None) or getattr(module, "to_kv", None)
        if fused is None:
            continue
        parts = [module.to_q, module.to_k, module.to_v] if hasattr(module, "to_qkv") else [module.to_k, module.to_v]
        yield fused, [getattr(part, "base_layer", part) for part in parts]  # a peft LoRA keeps the Linear inside


def view_parts_of_fused(fused, layers, rows: list[int]) -> None:
    """Make each separate layer's weight (and bias) its `rows` of the fused projection's, in order."""
    start = 0
    for layer, count in zip(layers, rows):
        layer.weight.data = fused.weight.data[start : start + count]
        if layer.bias is not None and fused.bias is not None:
            layer.bias.data = fused.bias.data[start : start + count]
        start += count


def unfuse_qkv(model) -> None:
    """Back to separate q/k/v projections (their weights were kept as views of the fused ones)."""
    from diffusers.models.attention_processor import Attention

    if not is_fused(model):
        return
    model.unfuse_qkv_projections()
    for module in model.modules():
        if isinstance(module, Attention) and module.fused_projections:
            for name in ("to_qkv", "to_kv"):
                if hasattr(module, name):
                    delattr(module, name)
            module.fused_projections = False


def make_lora_switcher(base_class, fast_path: FastPath, device: str):
    """A LoRA switcher (`base_class`: LoadedLoras for the pipeline, UnetLoras for the inpainting UNet) that
    keeps QKV fusion and LoRAs apart: the UNet it adapts (`unet_of(target)`) is unfused while any LoRA is in
    use, fused again (if the fast path fuses) for requests without one. Without fusion it is `base_class`."""
    if not (fast_path.applies_on(device) and fast_path.fuse_qkv and fast_path.sdpa):
        return base_class()

    class FusionAwareLoras(base_class):
        def activate(self, target, files) -> None:
            if files:
                unfuse_qkv(self.unet_of(target))
            super().activate(target, files)
            if not files:
                fuse_qkv(self.unet_of(target))

    return FusionAwareLoras()


def warm_up(pipeline, size: tuple[int, int], steps: int = 2) -> float:
    """One short generation at `size` (width, height) so the first request finds kernels chosen, memory
    reserved and the compiled UNet built for that shape. Returns the seconds it took."""
    import time

    import torch

    from studio.decode import decode_latents

    started = time.perf_counter()
    with torch.inference_mode():
        latents = pipeline(
            prompt="warm-up",
            negative_prompt="",
            width=size[0],
            height=size[1],
            num_inference_steps=steps,
            guidance_scale=5.0,
            generator=torch.Generator("cpu").manual_seed(0),
            output_type="latent",
        ).images
        decode_latents(pipeline, latents)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    log.info("warm-up at %dx%d took %.1f s", size[0], size[1], seconds)
    return seconds


# Command-line options, shared by app.py and the `python -m studio` commands.


def add_performance_options(parser: argparse.ArgumentParser) -> None:
    defaults = FastPath()
    group = parser.add_argument_group("performance (GPU)")
    group.add_argument(
        "--fast-path",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="GPU fast path (default on); --no-fast-path runs bare diffusers fp16 + SDPA",
    )
    group.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default=defaults.dtype, help="GPU weight dtype (default float16)"
    )
    group.add_argument("--no-channels-last", action="store_true", help="keep the UNet/VAE in the default memory format")
    group.add_argument("--no-fuse-qkv", action="store_true", help="keep attention q/k/v projections separate")
    group.add_argument(
        "--no-sdpa", action="store_true", help="classic attention instead of scaled_dot_product_attention"
    )
    group.add_argument("--compile", nargs="?", const=defaults.compile_mode, default=None, choices=COMPILE_MODES, metavar="MODE",
                       help=f"torch.compile the UNet (opt-in; MODE default {defaults.compile_mode}; one of {', '.join(COMPILE_MODES)})")  # fmt: skip
    group.add_argument("--no-warmup", action="store_true", help="skip the warm-up generation on start")
    group.add_argument(
        "--vram", choices=VRAM_MODES, default="auto", help="GPU memory plan (default auto: from free memory)"
    )


def performance_settings(args: argparse.Namespace) -> dict:
    """The Settings fields the performance options set (defaults where a parser lacks them)."""
    defaults = FastPath()
    fast_path = FastPath(
        enabled=getattr(args, "fast_path", True),
        dtype=getattr(args, "dtype", defaults.dtype),
        sdpa=not getattr(args, "no_sdpa", False),
        channels_last=not getattr(args, "no_channels_last", False),
        fuse_qkv=not getattr(args, "no_fuse_qkv", False),
        compile=getattr(args, "compile", None) is not None,
        compile_mode=getattr(args, "compile", None) or defaults.compile_mode,
        warmup=not getattr(args, "no_warmup", False),
    )
    return {"fast_path": fast_path, "vram": getattr(args, "vram", "auto")}
