"""The GPU fast path and memory plans, checked on the CPU with the tiny model: plan choice from fake memory
figures, byte-identical CPU results, QKV fusion that keeps LoRAs working, mode switches that reuse weights."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pytest

from studio.performance_policy import (
    BASELINE,
    GIB,
    FastPath,
    add_performance_options,
    choose_memory_plan,
    is_fused,
    performance_settings,
)
from studio.services import build_services
from studio.settings import Settings, SettingsError
from studio.tiny import save_tiny_lora
from studio.types import LoraWeight

SDXL_WEIGHTS = int(6.9 * GIB)  # SDXL base in fp16: UNet 5.1 GB + text encoders + VAE
ON_CPU_TOO = FastPath(devices=("cuda", "cpu"), warmup=False)


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image).astype(int)


@pytest.mark.parametrize(
    ("free_gib", "expected"),
    [(80, "high"), (24, "high"), (12, "low"), (9, "low"), (8, "cpu-offload"), (4, "cpu-offload")],
)
def test_auto_memory_plan_follows_free_memory(free_gib, expected):
    plan = choose_memory_plan("auto", "cuda", free_bytes=int(free_gib * GIB), model_bytes=SDXL_WEIGHTS)
    assert plan.mode == expected
    assert plan.model_offload == (expected == "cpu-offload")
    assert plan.vae_tiling == plan.vae_slicing == (expected != "high")
    assert "GiB free" in plan.reason


def test_forced_memory_plans_and_cpu():
    assert choose_memory_plan("cpu-offload", "cuda", free_bytes=80 * GIB, model_bytes=SDXL_WEIGHTS).model_offload
    assert choose_memory_plan("high", "cuda", free_bytes=1 * GIB, model_bytes=SDXL_WEIGHTS).mode == "high"
    assert choose_memory_plan("low", "cuda").vae_tiling
    assert choose_memory_plan("auto", "cuda", free_bytes=None).mode == "high"  # unknown: do not slow down
    cpu = choose_memory_plan("auto", "cpu", free_bytes=1, model_bytes=SDXL_WEIGHTS)
    assert cpu.mode == "cpu" and not (cpu.model_offload or cpu.vae_tiling or cpu.vae_slicing)
    with pytest.raises(ValueError, match="--vram"):
        choose_memory_plan("huge", "cuda")
    with pytest.raises(SettingsError, match="--vram"):
        Settings(vram="huge")


def test_command_line_options_build_the_policy():
    parser = argparse.ArgumentParser()
    add_performance_options(parser)
    default = performance_settings(parser.parse_args([]))
    assert default == {"fast_path": FastPath(), "vram": "auto"}
    assert FastPath().channels_last and FastPath().fuse_qkv and FastPath().warmup and not FastPath().compile
    chosen = performance_settings(
        parser.parse_args(["--no-channels-last", "--compile", "--vram", "low", "--dtype", "bfloat16"])
    )
    assert chosen["vram"] == "low"
    assert chosen["fast_path"] == FastPath(dtype="bfloat16", channels_last=False, compile=True)
    assert (
        performance_settings(parser.parse_args(["--compile", "reduce-overhead"]))["fast_path"].compile_mode
        == "reduce-overhead"
    )
    assert not performance_settings(parser.parse_args(["--no-fast-path"]))["fast_path"].enabled


@pytest.fixture(scope="module")
def own_models_dir(tmp_path_factory):
    """A models folder of this module's own, so the LoRA saved here is listed nowhere else."""
    return tmp_path_factory.mktemp("fast-path-models")


@pytest.fixture(scope="module")
def studio_for(own_models_dir, tmp_path_factory):
    """Build a tiny studio (CPU) for a fast path."""
    outputs = tmp_path_factory.mktemp("fast-path-outputs")
    models_dir = own_models_dir

    def build(fast_path: FastPath):
        return build_services(
            Settings(model="tiny", models_dir=models_dir, output_dir=outputs, device="cpu", fast_path=fast_path)
        )

    return build


def test_fast_path_is_a_no_op_on_the_cpu(tiny_services, studio_for, tiny_request):
    assert tiny_services.manager.fast_path_applied == () and tiny_services.manager.settings.fast_path.enabled
    assert tiny_services.manager.warmup_seconds is None and tiny_services.manager.memory_plan.mode == "cpu"
    bare = studio_for(BASELINE)
    assert np.array_equal(pixels(tiny_services.engine.run(tiny_request)), pixels(bare.engine.run(tiny_request)))


def test_fast_path_forced_on_cpu_applies_its_switches_and_keeps_the_picture(tiny_services, studio_for, tiny_request):
    fast = studio_for(ON_CPU_TOO)
    assert fast.manager.fast_path_applied == ("channels_last", "fused qkv")
    assert is_fused(fast.manager.pipeline.unet)
    expected = pixels(tiny_services.engine.run(tiny_request))
    got = pixels(fast.engine.run(tiny_request))
    assert np.abs(got - expected).max() <= 2  # other kernels, same maths: last-bit rounding only
    assert np.array_equal(got, pixels(fast.engine.run(tiny_request)))  # and still deterministic


def test_fused_qkv_still_loads_loras_and_they_change_the_picture(studio_for, own_models_dir, tiny_request):
    save_tiny_lora(own_models_dir / "loras" / "fastpath-test.safetensors", seed=5)
    with_lora = replace(tiny_request, loras=(LoraWeight("fastpath-test", 1.0),))
    fused, plain = (
        studio_for(replace(ON_CPU_TOO, channels_last=False)),
        studio_for(replace(ON_CPU_TOO, channels_last=False, fuse_qkv=False)),
    )
    unet = fused.manager.pipeline.unet
    base = pixels(fused.engine.run(tiny_request))
    assert is_fused(unet)

    lora_fused = pixels(fused.engine.run(with_lora))
    assert not is_fused(unet), "LoRA adapters sit on to_q/to_k/to_v, which a fused projection would bypass"
    lora_plain = pixels(plain.engine.run(with_lora))
    assert np.abs(lora_fused - base).mean() > 1.0, "the LoRA should change the picture"
    assert np.abs(lora_fused - lora_plain).max() <= 2, "fusion must not change what a LoRA does"

    again = pixels(fused.engine.run(tiny_request))
    assert is_fused(unet), "a request without LoRAs fuses again"
    assert np.abs(again - base).max() <= 2
    assert fused.manager.pipeline.unet is unet


def test_mode_switches_reuse_the_weights_and_memory(tiny_services):
    from benchmarks.switching import measure_mode_switches
    from studio.tiny import build_tiny_controlnet

    manager = tiny_services.manager
    # built apart from the shared UNet, which tests before this one may have wrapped in LoRA layers
    result = measure_mode_switches(manager, build_tiny_controlnet(), cycles=3)
    assert result["same_unet"]
    for mode in ("img2img", "inpaint"):
        assert manager.pipeline_for(mode).unet is manager.pipeline.unet
        assert manager.pipeline_for(mode).vae is manager.pipeline.vae
    assert result["rss_after_mib"] - result["rss_after_first_cycle_mib"] < 16, "cached switches must not allocate"
    assert result["rss_growth_mib"] < 64, "building the derived pipelines must not copy the weights"
