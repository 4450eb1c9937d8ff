"""Full-size SDXL on a CUDA GPU: bare diffusers fp16 + SDPA against the studio's fast path, in one run.

The UNet, VAE and both text encoders are the real SDXL architectures, built from the shipped configs
(`studio/configs/sdxl_base`) on the meta device and materialised on the GPU with random weights (speed does
not depend on the weights; no 30 s CPU initialisation, no download). Two copies are built from one seed:

- baseline: a plain `StableDiffusionXLPipeline` in fp16 with diffusers' default SDPA attention and the stock
  VAE config (`force_upcast`: decoded in fp32, as bare diffusers does with the stock SDXL VAE);
- studio: the same weights loaded through `PipelineManager` (fast path, memory plan, warm-up) with a VAE
  whose config is the fp16-fix VAE's (same architecture, decodes in fp16), driven through `Engine.run`.

Calls alternate baseline/studio; each row gives the median seconds per image, the denoising it/s, the
peak VRAM of the call (its own weights plus working memory) and the ratio to the FLOP bound: UNet FLOPs per
evaluation (counted with FlopCounterMode on one call) x evaluations / the measured bf16 matmul throughput.
"""

from __future__ import annotations

import gc
import logging
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GPU_UNAVAILABLE = "GPU: not available on this machine"
PROMPT = "a lighthouse on a cliff at dusk, dramatic light, oil painting"
NEGATIVE = "blurry, low quality"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: int
    cfg_scale: float
    batch: int
    sampler: str = "Euler"  # a studio sampler name; the baseline builds the same scheduler

    @property
    def evaluations_batch(self) -> int:
        """The UNet's batch per evaluation: CFG runs the conditional and unconditional halves together."""
        return self.batch * (2 if self.cfg_scale > 1.0 else 1)


SCENARIOS = (
    Scenario("30 steps, batch 1", 30, 5.0, 1),
    Scenario("30 steps, batch 4", 30, 5.0, 4),
    Scenario("Lightning-like 4 steps, CFG 1", 4, 1.0, 1, "Euler trailing"),
)


# Building random-weight models without initialising them on the CPU.


def randomize_(module, seed: int = 0, gain: float = 0.5):
    """Fill a materialised (`to_empty`) module in place: matrices and kernels ~ N(0, gain^2 / fan_in), biases 0,
    norm scales 1, CLIP's position ids 0..n-1. Deterministic for one seed on one device."""
    import torch

    parameters = list(module.parameters())
    device = parameters[0].device if parameters else torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.named_parameters():
            if tensor.dim() >= 2:
                tensor.normal_(0.0, gain / math.sqrt(tensor[0].numel()), generator=generator)
            elif name.endswith("bias"):
                tensor.zero_()
            else:
                tensor.fill_(1.0)
        for name, tensor in module.named_buffers():
            if name.endswith("position_ids"):
                tensor.copy_(torch.arange(tensor.shape[-1], device=tensor.device).expand_as(tensor))
            else:
                raise ValueError(f"randomize_ does not know how to fill buffer '{name}'")
    return module.eval()


def materialize(build, device, dtype, seed: int):
    """`build()` on the meta device (no memory, no init), then real storage on `device`, random values."""
    import torch

    with torch.device("meta"):
        module = build()
    module = module.to(dtype).to_empty(device=device)
    return randomize_(module, seed)


def build_random_pipeline(
    unet_config: dict, vae_config: dict, text_config, text_config_2, device, dtype, seed: int = 0
):
    """A StableDiffusionXLPipeline with random weights of the given architectures, made on `device`."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.sdxl_config import sdxl_scheduler_config

    unet = materialize(lambda: UNet2DConditionModel.from_config(unet_config), device, dtype, seed)
    vae = materialize(lambda: AutoencoderKL.from_config(vae_config), device, dtype, seed + 1)
    text_encoder = materialize(lambda: CLIPTextModel(text_config), device, dtype, seed + 2)
    text_encoder_2 = materialize(lambda: CLIPTextModelWithProjection(text_config_2), device, dtype, seed + 3)
    tokenizer, tokenizer_2 = load_clip_tokenizers()
    pipeline = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=EulerDiscreteScheduler.from_config(sdxl_scheduler_config()),
        add_watermarker=False,
    )  # fmt: skip
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def sdxl_random_pipeline(device, dtype, seed: int = 0, fp16_safe_vae: bool = False):
    """Full-size SDXL base from the shipped configs. `fp16_safe_vae` gives the VAE the fp16-fix config."""
    from transformers import CLIPTextConfig

    from studio.sdxl_config import sdxl_component_config

    vae_config = {**sdxl_component_config("vae"), **({"force_upcast": False} if fp16_safe_vae else {})}
    return build_random_pipeline(
        sdxl_component_config("unet"), vae_config,
        CLIPTextConfig.from_dict(sdxl_component_config("text_encoder")),
        CLIPTextConfig.from_dict(sdxl_component_config("text_encoder_2")),
        device, dtype, seed,
    )  # fmt: skip


# FLOPs and the FLOP bound.


def unet_inputs(unet, batch: int, latent_height: int, latent_width: int, text_length: int = 77):
    """Inputs of one SDXL UNet call (latents, timestep, text states, pooled text + size conditioning)."""
    import torch

    config = unet.config
    parameter = next(unet.parameters())
    device, dtype = parameter.device, parameter.dtype
    pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
    return {
        "sample": torch.randn(batch, config.in_channels, latent_height, latent_width, device=device, dtype=dtype),
        "timestep": torch.tensor(500.0, device=device),
        "encoder_hidden_states": torch.randn(
            batch, text_length, config.cross_attention_dim, device=device, dtype=dtype
        ),
        "added_cond_kwargs": {
            "text_embeds": torch.randn(batch, pooled, device=device, dtype=dtype),
            "time_ids": torch.tensor([[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]], device=device, dtype=dtype).repeat(
                batch, 1
            ),
        },
    }


def count_unet_flops(unet, batch: int, latent_height: int, latent_width: int) -> int:
    """FLOPs of one UNet evaluation at this batch and latent size (matmuls, convolutions, attention)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    inputs = unet_inputs(unet, batch, latent_height, latent_width)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        unet(**inputs, return_dict=False)
    return int(counter.get_total_flops())


def measure_matmul_tflops(device="cuda", dtype=None, size: int = 8192, iterations: int = 20) -> float:
    """Measured dense matmul throughput (TFLOP/s) of `size`x`size` products on `device` (bf16 by default)."""
    import torch

    dtype = dtype or torch.bfloat16
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    started = time.perf_counter()
    for _ in range(iterations):
        a @ b
    _sync(device)
    seconds = time.perf_counter() - started
    return 2 * size**3 * iterations / seconds / 1e12


def flop_bound_seconds(flops_per_evaluation: float, evaluations: int, tflops: float) -> float:
    """The least time the denoising could take at the measured matmul throughput."""
    return flops_per_evaluation * evaluations / (tflops * 1e12)


def _sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# The run.


def random_weights_manager(pipeline, fast_path, vram: str, folder: Path):
    from studio.models import PipelineManager
    from studio.settings import Settings

    class RandomWeightsManager(PipelineManager):
        """The real PipelineManager, handed an already-built pipeline instead of reading a checkpoint."""

        def _load_pipeline(self, source):
            return pipeline, False

    settings = Settings(model="sdxl-random-weights", models_dir=folder / "models", output_dir=folder / "outputs",
                        device="cuda", offline=True, fast_path=fast_path, vram=vram)  # fmt: skip
    manager = RandomWeightsManager(settings)
    manager.load()
    return manager


def _bare_call(pipeline, scenario: Scenario, scheduler_config):
    import torch
    from diffusers import EulerDiscreteScheduler

    spacing = {"timestep_spacing": "trailing"} if scenario.sampler == "Euler trailing" else {}
    pipeline.scheduler = EulerDiscreteScheduler.from_config(scheduler_config, **spacing)
    return pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, width=1024, height=1024, num_inference_steps=scenario.steps,
                    guidance_scale=scenario.cfg_scale, num_images_per_prompt=scenario.batch,
                    generator=torch.Generator("cpu").manual_seed(1)).images  # fmt: skip


def _studio_call(engine, scenario: Scenario):
    from studio.types import GenerationRequest

    request = GenerationRequest(prompt=PROMPT, negative_prompt=NEGATIVE, seed=1, width=1024, height=1024, steps=scenario.steps,
                                cfg_scale=scenario.cfg_scale, sampler=scenario.sampler, image_count=scenario.batch,
                                model=engine.manager.info.name)  # fmt: skip
    return [generated.image for generated in engine.run(request).images]


def _timed(call, own_weight_bytes: int) -> tuple[float, int, bool]:
    """(seconds, peak bytes of this call: own weights + working memory, all images finite)."""
    import numpy as np
    import torch

    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    images = call()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() - before + own_weight_bytes
    finite = all(np.asarray(image).any() for image in images)  # an all-black image means the decode overflowed
    return seconds, peak, finite


def _row(
    label: str, scenario: Scenario, seconds: list[float], peak: int, finite: bool, flops: int, tflops: float
) -> dict:
    median = statistics.median(seconds)
    bound = flop_bound_seconds(flops, scenario.steps, tflops)
    return {
        "scenario": scenario.name,
        "path": label,
        "batch": scenario.batch,
        "steps": scenario.steps,
        "runs": len(seconds),
        "median_s": round(median, 4),
        "s_per_image": round(median / scenario.batch, 4),
        "it_per_s": round(scenario.steps / median, 2),
        "peak_vram_gib": round(peak / 1024**3, 2),
        "flop_bound_s": round(bound, 4),
        "x_flop_bound": round(median / bound, 2),
        "images_ok": finite,
    }


def _compare(rows, baseline, engine, scenario, label, repeats, weights, flops, tflops, scheduler_config) -> None:
    sides = {
        "bare diffusers fp16+SDPA": lambda: _bare_call(baseline, scenario, scheduler_config),
        label: lambda: _studio_call(engine, scenario),
    }
    own = {"bare diffusers fp16+SDPA": weights[0], label: weights[1]}
    for call in sides.values():  # first call of each shape: kernels chosen, compile done; not timed
        call()
    seconds = {name: [] for name in sides}
    peaks = dict.fromkeys(sides, 0)
    finite = dict.fromkeys(sides, True)
    for _ in range(repeats):
        for name, call in sides.items():
            s, peak, ok = _timed(call, own[name])
            seconds[name].append(s)
            peaks[name] = max(peaks[name], peak)
            finite[name] = finite[name] and ok
    bare_row = _row(
        "bare diffusers fp16+SDPA",
        scenario,
        seconds["bare diffusers fp16+SDPA"],
        peaks["bare diffusers fp16+SDPA"],
        finite["bare diffusers fp16+SDPA"],
        flops,
        tflops,
    )
    studio_row = _row(label, scenario, seconds[label], peaks[label], finite[label], flops, tflops)
    studio_row["speedup"] = round(bare_row["median_s"] / studio_row["median_s"], 3)
    rows.extend([bare_row, studio_row])


def run_gpu(
    quick: bool = False, compile_mode: str | None = "max-autotune-no-cudagraphs", memory_modes: bool = True
) -> dict:
    """The whole GPU comparison; `{"available": False, ...}` without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {"available": False, "message": GPU_UNAVAILABLE}
    from studio.engine import Engine
    from studio.performance_policy import FastPath, model_bytes
    from studio.sdxl_config import sdxl_scheduler_config

    repeats = 2 if quick else 5
    scenarios = SCENARIOS[::2] if quick else SCENARIOS
    dtype = torch.float16
    result = {"available": True, "gpu": torch.cuda.get_device_name(0), "size": "1024x1024", "repeats": repeats}
    result["bf16_matmul_tflops"] = round(measure_matmul_tflops("cuda", torch.bfloat16), 1)
    tflops = result["bf16_matmul_tflops"]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        baseline = sdxl_random_pipeline("cuda", dtype, seed=0)
        studio_pipeline = sdxl_random_pipeline("cuda", dtype, seed=0, fp16_safe_vae=True)
        result["build_s"] = round(time.perf_counter() - started, 2)
        flops = {}
        for scenario in scenarios:
            key = scenario.evaluations_batch
            if key not in flops:
                flops[key] = count_unet_flops(baseline.unet, key, 128, 128)
        result["unet_tflop_per_evaluation"] = {f"batch {b}": round(f / 1e12, 2) for b, f in flops.items()}
        fast_path = FastPath(compile=False)
        started = time.perf_counter()
        manager = random_weights_manager(studio_pipeline, fast_path, "high", Path(folder))
        result["studio_load_and_warmup_s"] = round(time.perf_counter() - started, 2)
        result["fast_path"] = list(manager.fast_path_applied)
        engine = Engine(manager)
        weights = (model_bytes(baseline, dtype), model_bytes(studio_pipeline, dtype))
        config = sdxl_scheduler_config()
        rows = []
        for scenario in scenarios:
            _compare(
                rows,
                baseline,
                engine,
                scenario,
                "studio fast path",
                repeats,
                weights,
                flops[scenario.evaluations_batch],
                tflops,
                config,
            )
        if compile_mode:
            started = time.perf_counter()
            manager.pipeline.unet.compile(mode=compile_mode, fullgraph=False, dynamic=False)
            from studio.performance_policy import warm_up

            warm_up(manager.pipeline, (1024, 1024))
            result["compile_mode"] = compile_mode
            result["compile_and_warmup_s"] = round(time.perf_counter() - started, 1)
            for scenario in scenarios:
                _compare(
                    rows,
                    baseline,
                    engine,
                    scenario,
                    "studio fast path + compile",
                    repeats,
                    weights,
                    flops[scenario.evaluations_batch],
                    tflops,
                    config,
                )
        result["rows"] = rows
        del engine, manager, baseline, studio_pipeline
        gc.collect()
        torch.cuda.empty_cache()
        if memory_modes:
            result["memory_modes"] = _memory_modes(Path(folder), 1 if quick else 2, flops[2], tflops)
    return result


def _memory_modes(folder: Path, repeats: int, flops: int, tflops: float) -> list[dict]:
    """The studio at 30 steps, batch 1 under each forced --vram plan, one at a time (peak = all it holds)."""
    import torch

    from studio.engine import Engine
    from studio.performance_policy import FastPath

    rows = []
    scenario = SCENARIOS[0]
    for vram in ("high", "low", "cpu-offload"):
        pipeline = sdxl_random_pipeline("cuda", torch.float16, seed=0, fp16_safe_vae=True)
        manager = random_weights_manager(pipeline, FastPath(), vram, folder)
        engine = Engine(manager)
        _studio_call(engine, scenario)
        seconds, peak, finite = [], 0, True
        for _ in range(repeats):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            images = _studio_call(engine, scenario)
            torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
            peak = max(peak, torch.cuda.max_memory_allocated())
            finite = finite and all(image.getbbox() is not None for image in images)
        row = _row(f"studio --vram {vram}", scenario, seconds, peak, finite, flops, tflops)
        row["plan"] = manager.memory_plan.mode
        rows.append(row)
        del engine, manager, pipeline
        gc.collect()
        torch.cuda.empty_cache()
    return rows
