"""The benchmark suite's pieces on the CPU: random-weight models built on the meta device, FLOP counting,
the FLOP bound, the tables, and the GPU section's answer on a machine without CUDA. No timings are asserted."""

from __future__ import annotations

import pytest
import torch

from benchmarks.__main__ import cpu_table, gpu_table
from benchmarks.common import format_table
from benchmarks.flops import count_unet_flops, flop_bound_seconds, measure_matmul_tflops
from benchmarks.gpu import ABLATIONS, BARE, DRY_RIG, DRY_RUN_NOTE, GPU_UNAVAILABLE, SCENARIOS, run_gpu
from benchmarks.random_sdxl import build_random_pipeline
from studio.tiny import TEXT_ENCODER_2_WIDTH, TEXT_ENCODER_WIDTH, tiny_text_config, tiny_unet_config, tiny_vae_config


@pytest.fixture(scope="module")
def random_tiny():
    return build_random_pipeline(
        tiny_unet_config(), tiny_vae_config(), tiny_text_config(TEXT_ENCODER_WIDTH, with_projection=False),
        tiny_text_config(TEXT_ENCODER_2_WIDTH, with_projection=True), "cpu", torch.float32, seed=3,
    )  # fmt: skip


def test_meta_built_random_pipeline_is_real_deterministic_and_runs(random_tiny):
    for module in (random_tiny.unet, random_tiny.vae, random_tiny.text_encoder, random_tiny.text_encoder_2):
        assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in module.parameters())
    ids = next(buffer for name, buffer in random_tiny.text_encoder.named_buffers() if name.endswith("position_ids"))
    assert torch.equal(ids[0], torch.arange(ids.shape[-1]))
    again = build_random_pipeline(
        tiny_unet_config(), tiny_vae_config(), tiny_text_config(TEXT_ENCODER_WIDTH, with_projection=False),
        tiny_text_config(TEXT_ENCODER_2_WIDTH, with_projection=True), "cpu", torch.float32, seed=3,
    )  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(random_tiny.unet.parameters(), again.unet.parameters()))
    image = random_tiny(prompt="a cube", width=64, height=64, num_inference_steps=2, guidance_scale=5.0,
                        generator=torch.Generator("cpu").manual_seed(0), output_type="np").images  # fmt: skip
    assert image.shape == (1, 64, 64, 3) and torch.isfinite(torch.from_numpy(image)).all()


def test_unet_flops_are_counted_and_scale_with_batch(random_tiny):
    one = count_unet_flops(random_tiny.unet, 1, 32, 32)
    two = count_unet_flops(random_tiny.unet, 2, 32, 32)
    assert one > 1e6
    assert two == pytest.approx(2 * one, rel=0.02)
    assert count_unet_flops(random_tiny.unet, 1, 64, 64) > 3 * one  # 4x the pixels


def test_flop_bound_and_matmul_throughput():
    assert flop_bound_seconds(13.5e12, 30, 675.0) == pytest.approx(0.6)
    assert measure_matmul_tflops("cpu", torch.float32, size=64, iterations=2) > 0
    assert [s.evaluations_batch for s in SCENARIOS] == [2, 8, 1]  # CFG doubles the batch; CFG 1 does not


def test_gpu_section_says_plainly_when_there_is_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = run_gpu(quick=True)
    assert result == {"available": False, "message": GPU_UNAVAILABLE}
    assert gpu_table(result) == "GPU: not available on this machine"


def test_tables_format_rows_and_missing_values():
    text = format_table(
        [{"a": "x", "b": 1.23456}, {"a": "longer", "b": None}], (("a", "name", ""), ("b", "value", ".2f"))
    )
    lines = text.splitlines()
    assert lines[0].split() == ["name", "value"] and set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["x", "1.23"] and lines[3].split() == ["longer", "-"]
    cpu = {
        "overhead": {"runs": 10, "steps": 10, "size": 64, "bare_median_s": 0.1, "studio_median_s": 0.101, "ratio": 1.01},
        "switch": {"first_cycle_mean_s": 0.02, "cached_mean_s": 1e-5, "order": "a -> b", "same_unet": True,
                   "rss_before_mib": 900.0, "rss_after_mib": 901.0, "cycles": 3, "rss_growth_mib": 1.0},
        "startup": {"serving_s": 20.0, "first_image_s": 21.0, "ready_probe": "/health", "route": "gradio /generate", "image": "64x64"},
    }  # fmt: skip
    table = cpu_table(cpu)
    assert "1.010" in table and "ok" in table and "same UNet object: True" in table and "21.0 s" in table
    row = {"scenario": "30 steps, batch 1", "path": "studio fast path", "s_per_image": 1.5, "it_per_s": 20.0,
           "peak_vram_gib": 9.1, "x_flop_bound": 2.5, "speedup": 1.6, "images_ok": True}  # fmt: skip
    gpu = {"available": True, "gpu": "H100", "size": "1024x1024", "matmul_dtype": "bfloat16", "matmul_tflops": 700.0,
           "fast_path": ["channels_last"], "rows": [row]}  # fmt: skip
    assert "1.60" in gpu_table(gpu) and "H100" in gpu_table(gpu)


def test_gpu_comparison_runs_end_to_end_as_a_dry_run_on_the_cpu():
    """Every line of the GPU comparison (both paths, the fast path's switches, FLOP counts, memory plans, the
    table) on the CPU with tiny models, so a GPU machine does not meet its bugs first."""
    result = run_gpu(quick=True, compile_mode=None, rig=DRY_RIG)
    assert result["dry_run"] and result["size"] == "64x64" and result["matmul_tflops"] > 0
    assert {"channels_last", "fused qkv"} <= set(result["fast_path"])
    scenarios = [s.name for s in DRY_RIG.scenarios[::2]]
    assert [(row["scenario"], row["path"]) for row in result["rows"]] == [
        (name, path) for name in scenarios for path in (BARE, "studio fast path")
    ]
    for row in result["rows"]:
        assert row["images_ok"] and row["runs"] == 2 and row["peak_vram_gib"] is None
        assert row["median_s"] > 0 and row["x_flop_bound"] > 0
    assert all(row["speedup"] > 0 for row in result["rows"][1::2])
    assert [(row["path"], row["plan"]) for row in result["memory_modes"]] == [
        (f"studio --vram {vram}", "cpu") for vram in ("high", "low", "cpu-offload")
    ]
    ablation = result["ablation"]
    assert [row["path"] for row in ablation] == [label for label, _switches, _vae in ABLATIONS]
    assert ablation[0]["speedup"] == 1.0 and all(row["images_ok"] and row["runs"] == 2 for row in ablation)
    table = gpu_table(result)
    assert table.startswith(f"GPU: {DRY_RUN_NOTE}, 64x64, float32 matmul") and "fast path, no fused qkv" in table
