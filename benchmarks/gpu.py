"""Full-size SDXL on a CUDA GPU: bare diffusers fp16 + SDPA against the studio's fast path, in one run.

The UNet, VAE and both text encoders are the real SDXL architectures, built from the shipped configs
(`studio/configs/sdxl_base`) on the meta device and materialised on the GPU with random weights (speed does
not depend on the weights; no 30 s CPU initialisation, no download). Two copies are built from one seed:

- baseline: a plain `StableDiffusionXLPipeline` in fp16 with diffusers' default SDPA attention and the stock
  VAE config (`force_upcast`: decoded in fp32, as bare diffusers does with the stock SDXL VAE);
- studio: the same weights loaded through `PipelineManager` (fast path, memory plan, warm-up) with a VAE
  whose config is the fp16-fix VAE's (same architecture, decodes in fp16), driven through `Engine.run`.

Calls alternate baseline/studio (and, for the leave-one-out rows of `ABLATIONS`, the studio's variants);
each row gives the median seconds per image, the denoising it/s, the peak VRAM of the call (its own weights
plus working memory) and the ratio to the FLOP bound: UNet FLOPs per evaluation (counted with
FlopCounterMode on one call) x evaluations / the measured bf16 matmul throughput.

Without a GPU, `DRY_RIG` runs every line of the same comparison on the CPU with the tiny architectures at
64x64 and a few steps (`python -m benchmarks --gpu-dry-run`, and the test suite): it checks the code, and
its figures say nothing about speed.
"""

from __future__ import annotations

import functools
import gc
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.flops import count_unet_flops, flop_bound_seconds, measure_matmul_tflops, sync
from benchmarks.random_sdxl import sdxl_random_pipeline

GPU_UNAVAILABLE = "GPU: not available on this machine"
PROMPT = "a lighthouse on a cliff at dusk, dramatic light, oil painting"
NEGATIVE = "blurry, low quality"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    steps: int
    cfg_scale: float
    batch: int
    sampler: str = "Euler"  # a studio sampler name; the baseline builds the same scheduler
    label: str = ""

    @property
    def name(self) -> str:
        cfg = "" if self.cfg_scale > 1.0 else ", CFG 1"
        return f"{self.label}{self.steps} steps{cfg}, batch {self.batch}"

    @property
    def evaluations_batch(self) -> int:
        """The UNet's batch per evaluation: CFG runs the conditional and unconditional halves together."""
        return self.batch * (2 if self.cfg_scale > 1.0 else 1)


SCENARIOS = (
    Scenario(30, 5.0, 1),
    Scenario(30, 5.0, 4),
    Scenario(4, 1.0, 1, "Euler trailing", label="Lightning-like "),
)


@dataclass(frozen=True)
class Rig:
    """Where the comparison runs: the device, the image side, the architectures and the scenarios."""

    device: str
    size: int
    tiny: bool  # the tiny architectures of studio.tiny instead of full-size SDXL
    scenarios: tuple[Scenario, ...] = SCENARIOS
    matmul_size: int = 8192

    @property
    def dry_run(self) -> bool:
        return self.device != "cuda"

    @property
    def dtype(self):
        import torch

        return torch.float32 if self.dry_run else torch.float16  # the CPU always computes in float32


CUDA_RIG = Rig("cuda", 1024, tiny=False)
DRY_RIG = Rig(
    "cpu", 64, tiny=True, scenarios=tuple(replace(s, steps=min(s.steps, 3)) for s in SCENARIOS), matmul_size=256
)
DRY_RUN_NOTE = "DRY RUN on the CPU with tiny models: checks the code, says nothing about speed"


class MemoryProbe:
    """Peak device memory of one call on CUDA; on the CPU (dry run) there is nothing to read: None."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"

    def start(self) -> int:
        import torch

        if not self.cuda:
            return 0
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()

    def peak(self) -> int | None:
        import torch

        return torch.cuda.max_memory_allocated() if self.cuda else None


# The run.


def random_weights_manager(pipeline, fast_path, vram: str, folder: Path, rig: Rig = CUDA_RIG):
    from studio.models import PipelineManager
    from studio.settings import Settings

    class RandomWeightsManager(PipelineManager):
        """The real PipelineManager, handed an already-built pipeline instead of reading a checkpoint."""

        def _load_pipeline(self, source, blame):
            return pipeline, rig.tiny  # tiny architectures take the tiny model's sizes

    settings = Settings(model="sdxl-random-weights", models_dir=folder / "models", output_dir=folder / "outputs",
                        device=rig.device, offline=True, fast_path=fast_path, vram=vram)  # fmt: skip
    manager = RandomWeightsManager(settings)
    manager.load()
    return manager


def _bare_call(pipeline, scenario: Scenario, scheduler_config, size: int):
    import torch
    from diffusers import EulerDiscreteScheduler

    spacing = {"timestep_spacing": "trailing"} if scenario.sampler == "Euler trailing" else {}
    pipeline.scheduler = EulerDiscreteScheduler.from_config(scheduler_config, **spacing)
    return pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, width=size, height=size, num_inference_steps=scenario.steps,
                    guidance_scale=scenario.cfg_scale, num_images_per_prompt=scenario.batch,
                    generator=torch.Generator("cpu").manual_seed(1)).images  # fmt: skip


def _studio_call(engine, scenario: Scenario, size: int):
    from studio.types import GenerationRequest

    request = GenerationRequest(prompt=PROMPT, negative_prompt=NEGATIVE, seed=1, width=size, height=size, steps=scenario.steps,
                                cfg_scale=scenario.cfg_scale, sampler=scenario.sampler, image_count=scenario.batch,
                                model=engine.manager.info.name)  # fmt: skip
    return [generated.image for generated in engine.run(request).images]


def _timed(call, own_weight_bytes: int, probe: MemoryProbe) -> tuple[float, int | None, bool]:
    """(seconds, peak bytes of this call: own weights + working memory, all images finite)."""
    import numpy as np

    before = probe.start()
    started = time.perf_counter()
    images = call()
    sync("cuda" if probe.cuda else "cpu")
    seconds = time.perf_counter() - started
    peak = probe.peak()
    peak = None if peak is None else peak - before + own_weight_bytes
    finite = all(np.asarray(image).any() for image in images)  # an all-black image means the decode overflowed
    return seconds, peak, finite


def _row(label: str, scenario: Scenario, timings: list[tuple], flops: int, tflops: float) -> dict:
    """One table row from `_timed` results of one path."""
    median = statistics.median(seconds for seconds, _peak, _ok in timings)
    peaks = [peak for _seconds, peak, _ok in timings if peak is not None]
    bound = flop_bound_seconds(flops, scenario.steps, tflops)
    return {
        "scenario": scenario.name,
        "path": label,
        "batch": scenario.batch,
        "steps": scenario.steps,
        "runs": len(timings),
        "median_s": round(median, 4),
        "s_per_image": round(median / scenario.batch, 4),
        "it_per_s": round(scenario.steps / median, 2),
        "peak_vram_gib": round(max(peaks) / 1024**3, 2) if peaks else None,
        "flop_bound_s": round(bound, 4),
        "x_flop_bound": round(median / bound, 2),
        "images_ok": all(ok for _seconds, _peak, ok in timings),
    }


BARE = "bare diffusers fp16+SDPA"


def _alternate(calls: dict, own_weights: dict, repeats: int, probe: MemoryProbe) -> dict[str, list[tuple]]:
    """`_timed` results of each call, taking turns; the first call of each is not timed (kernels chosen,
    compile done)."""
    for call in calls.values():
        call()
    timings = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            timings[name].append(_timed(call, own_weights[name], probe))
    return timings


def _compare(
    rig: Rig, baseline, engine, scenario: Scenario, label: str, repeats: int, weights, flops, tflops
) -> list[dict]:
    """The baseline and the studio on one scenario, alternating. Returns the two rows, the studio's with its
    speed-up over the baseline."""
    from studio.sdxl_config import sdxl_scheduler_config

    config = sdxl_scheduler_config()
    calls = {
        BARE: lambda: _bare_call(baseline, scenario, config, rig.size),
        label: lambda: _studio_call(engine, scenario, rig.size),
    }
    timings = _alternate(calls, {BARE: weights[0], label: weights[1]}, repeats, MemoryProbe(rig.device))
    bare_row = _row(BARE, scenario, timings[BARE], flops, tflops)
    studio_row = _row(label, scenario, timings[label], flops, tflops)
    studio_row["speedup"] = round(bare_row["median_s"] / studio_row["median_s"], 3)
    return [bare_row, studio_row]


def run_gpu(
    quick: bool = False,
    compile_mode: str | None = "max-autotune-no-cudagraphs",
    memory_modes: bool = True,
    rig: Rig | None = None,
    ablation: bool = True,
) -> dict:
    """The whole GPU comparison on `rig` (default: the CUDA GPU); `{"available": False, ...}` without CUDA."""
    import torch

    rig = rig or CUDA_RIG
    if not rig.dry_run and not torch.cuda.is_available():
        return {"available": False, "message": GPU_UNAVAILABLE}
    from studio.engine import Engine
    from studio.performance_policy import FastPath, model_bytes, warm_up

    repeats = 2 if quick else 5
    scenarios = rig.scenarios[::2] if quick else rig.scenarios
    dtype = rig.dtype
    result = {
        "available": True,
        "gpu": DRY_RUN_NOTE if rig.dry_run else torch.cuda.get_device_name(0),
        "dry_run": rig.dry_run,
        "size": f"{rig.size}x{rig.size}",
        "repeats": repeats,
    }
    matmul_dtype = torch.float32 if rig.dry_run else torch.bfloat16
    tflops = measure_matmul_tflops(rig.device, matmul_dtype, size=rig.matmul_size)
    result["matmul_dtype"], result["matmul_tflops"] = str(matmul_dtype).removeprefix("torch."), round(tflops, 3)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        baseline = sdxl_random_pipeline(rig.device, dtype, seed=0, tiny=rig.tiny)
        studio_pipeline = sdxl_random_pipeline(rig.device, dtype, seed=0, fp16_safe_vae=True, tiny=rig.tiny)
        result["build_s"] = round(time.perf_counter() - started, 2)
        latent = rig.size // baseline.vae_scale_factor
        flops = {}
        for scenario in scenarios:
            if scenario.evaluations_batch not in flops:
                flops[scenario.evaluations_batch] = count_unet_flops(
                    baseline.unet, scenario.evaluations_batch, latent, latent
                )
        result["unet_tflop_per_evaluation"] = {f"batch {b}": round(f / 1e12, 4) for b, f in flops.items()}
        fast_path = FastPath(compile=False, devices=(rig.device,))
        started = time.perf_counter()
        manager = random_weights_manager(studio_pipeline, fast_path, "high", Path(folder), rig)
        result["studio_load_and_warmup_s"] = round(time.perf_counter() - started, 2)
        result["fast_path"] = list(manager.fast_path_applied)
        engine = Engine(manager)
        weights = (model_bytes(baseline, dtype), model_bytes(studio_pipeline, dtype))
        rows = []
        for scenario in scenarios:
            flop = flops[scenario.evaluations_batch]
            rows += _compare(rig, baseline, engine, scenario, "studio fast path", repeats, weights, flop, tflops)
        if compile_mode:
            started = time.perf_counter()
            manager.pipeline.unet.compile(mode=compile_mode, fullgraph=False, dynamic=False)
            warm_up(manager.pipeline, (rig.size, rig.size))
            result["compile_mode"] = compile_mode
            result["compile_and_warmup_s"] = round(time.perf_counter() - started, 1)
            for scenario in scenarios:
                flop = flops[scenario.evaluations_batch]
                rows += _compare(
                    rig, baseline, engine, scenario, "studio fast path + compile", repeats, weights, flop, tflops
                )
        result["rows"] = rows
        del engine, manager, baseline, studio_pipeline
        _free_memory(rig)
        first = flops[scenarios[0].evaluations_batch]
        if ablation:
            result["ablation"] = _ablation(rig, Path(folder), repeats, first, tflops, weights[1])
        if memory_modes:
            result["memory_modes"] = _memory_modes(rig, Path(folder), 1 if quick else 2, first, tflops)
    return result


def _free_memory(rig: Rig) -> None:
    import torch

    gc.collect()
    if not rig.dry_run:
        torch.cuda.empty_cache()


def _memory_modes(rig: Rig, folder: Path, repeats: int, flops: int, tflops: float) -> list[dict]:
    """The studio on the first scenario under each forced --vram plan, one at a time (peak = all it holds)."""
    from studio.engine import Engine
    from studio.performance_policy import FastPath

    rows = []
    scenario = rig.scenarios[0]
    probe = MemoryProbe(rig.device)
    for vram in ("high", "low", "cpu-offload"):
        pipeline = sdxl_random_pipeline(rig.device, rig.dtype, seed=0, fp16_safe_vae=True, tiny=rig.tiny)
        manager = random_weights_manager(pipeline, FastPath(devices=(rig.device,)), vram, folder, rig)
        call = functools.partial(_studio_call, Engine(manager), scenario, rig.size)
        call()
        # Everything this plan keeps on the device counts, so no weights are added to the probe's peak.
        row = _row(f"studio --vram {vram}", scenario, [_timed(call, 0, probe) for _ in range(repeats)], flops, tflops)
        row["plan"] = manager.memory_plan.mode
        rows.append(row)
        del call, manager, pipeline
        _free_memory(rig)
    return rows


# Each switch of the fast path left out in turn, beside the whole fast path and none of it:
# (label, FastPath fields changed, whether the VAE has the fp16-fix config).
ABLATIONS = (
    ("studio, fast path off", {"enabled": False}, False),
    ("studio fast path", {}, True),
    ("fast path, no channels_last", {"channels_last": False}, True),
    ("fast path, no fused qkv", {"fuse_qkv": False}, True),
    ("fast path, stock VAE (fp32 decode)", {}, False),
)
ABLATION_HEADROOM = 8 * 1024**3  # working memory beside the resident variants at 1024x1024


def _ablation(rig: Rig, folder: Path, repeats: int, flops: int, tflops: float, model_size: int) -> list[dict] | str:
    """The studio on the first scenario under each ABLATIONS variant, all resident and taking turns; the
    speed-up is against the fast path off. Without room for every variant on the GPU, a message says so."""
    import torch

    from studio.engine import Engine
    from studio.performance_policy import FastPath, model_bytes

    scenario = rig.scenarios[0]
    if not rig.dry_run:
        need = len(ABLATIONS) * model_size
        free = torch.cuda.mem_get_info()[0]
        if free < need + ABLATION_HEADROOM:
            return f"skipped: {len(ABLATIONS)} resident variants need {(need + ABLATION_HEADROOM) / 1024**3:.0f} GiB, {free / 1024**3:.0f} GiB free"
    calls, weights = {}, {}
    for label, switches, fp16_safe_vae in ABLATIONS:
        pipeline = sdxl_random_pipeline(rig.device, rig.dtype, seed=0, fp16_safe_vae=fp16_safe_vae, tiny=rig.tiny)
        fast_path = FastPath(devices=(rig.device,), **switches)
        manager = random_weights_manager(pipeline, fast_path, "high", folder, rig)
        calls[label] = functools.partial(_studio_call, Engine(manager), scenario, rig.size)
        weights[label] = model_bytes(pipeline, rig.dtype)
    timings = _alternate(calls, weights, repeats, MemoryProbe(rig.device))
    rows = [_row(label, scenario, timings[label], flops, tflops) for label in calls]
    for row in rows:
        row["speedup"] = round(rows[0]["median_s"] / row["median_s"], 3)
    del calls
    _free_memory(rig)
    return rows
