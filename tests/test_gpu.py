"""GPU tier: full-size SDXL architecture (random weights from the shipped configs) through the real engine.
Runs only where CUDA is available (conftest skips the `gpu` mark elsewhere); figures go to benchmarks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu_engine(tmp_path_factory):
    from benchmarks.gpu import random_weights_manager, sdxl_random_pipeline
    from studio.engine import Engine
    from studio.performance_policy import FastPath

    pipeline = sdxl_random_pipeline("cuda", torch.float16, fp16_safe_vae=False)
    manager = random_weights_manager(pipeline, FastPath(), "auto", tmp_path_factory.mktemp("gpu"))
    return Engine(manager)


def test_full_size_generation_is_finite_reproducible_and_fits(gpu_engine):
    from studio.types import GenerationRequest

    torch.cuda.reset_peak_memory_stats()
    request = GenerationRequest(prompt="a lighthouse at dusk", seed=3, width=1024, height=1024, steps=4,
                                cfg_scale=5.0, sampler="Euler", model=gpu_engine.manager.info.name)  # fmt: skip
    first = np.asarray(gpu_engine.run(request).images[0].image)
    second = np.asarray(gpu_engine.run(request).images[0].image)
    assert first.shape == (1024, 1024, 3)
    assert first.std() > 0, "an all-flat image means the fp16 decode overflowed and was not retried"
    assert np.array_equal(first, second)
    assert torch.cuda.max_memory_allocated() < 20 * 2**30, "SDXL fp16 at 1024² must fit well within 20 GiB"


def test_unet_runs_in_half_precision_on_cuda(gpu_engine):
    unet = gpu_engine.manager.pipeline.unet
    assert unet.device.type == "cuda" and unet.dtype in (torch.float16, torch.bfloat16)
