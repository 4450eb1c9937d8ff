"""Switching checkpoints (a preset's model): the old model leaves the device before the new one is placed, a
failed switch leaves the old one exactly as it was, and everything built on the old pipeline (derived
pipelines, IP-Adapters in its UNet, LoRA adapters) is rebuilt for the new one.

On the CPU no device memory can be seen, so the order and the state at each seam are recorded instead; the
GPU tier measures the memory itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skimage.data as skimage_data
import torch
from PIL import Image

from studio import device_memory, performance_policy
from studio.control import ip_adapter
from studio.control.stage import ImagePromptStage
from studio.engine import Engine
from studio.models import ModelUnavailable, PipelineManager
from studio.settings import Settings
from studio.tiny import TINY_SEED, save_tiny_lora, save_tiny_sdxl
from studio.types import ImagePrompt, LoraWeight


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """This module's own models folder (its LoRA is listed nowhere else) with a second, different tiny model."""
    root = tmp_path_factory.mktemp("switch-models")
    save_tiny_sdxl(root / "second-model", seed=TINY_SEED + 1)
    save_tiny_lora(root / "loras" / "switch-lora.safetensors", seed=4)
    return root


def engine_for(folder, source: str = "tiny", device: str = "cpu", **settings) -> Engine:
    manager = PipelineManager(
        Settings(model=source, models_dir=folder, output_dir=folder / "outputs", device=device, **settings)
    )
    manager.load()
    return Engine(manager)


def second(folder) -> str:
    return str(folder / "second-model")


def adapters_of(engine: Engine) -> ip_adapter.IpAdapters:
    return next(stage for stage in engine.stages if isinstance(stage, ImagePromptStage)).adapters


def pixels(engine: Engine, request) -> np.ndarray:
    return np.asarray(engine.run(request).images[0].image)


def image_prompt(engine: Engine, request):
    digest = engine.inputs.put(Image.fromarray(skimage_data.astronaut()))
    return replace(request, image_prompts=(ImagePrompt.of(digest, "ImagePrompt", stop_at=1.0),))


@pytest.fixture
def recorded(monkeypatch):
    """Every release, placement and restore, in order, with the pipeline concerned."""
    events = []
    for name in ("release_from_device", "restore_to_device"):
        real = getattr(device_memory, name)

        def spy(pipeline, *args, _real=real, _name=name):
            events.append((_name, pipeline))
            return _real(pipeline, *args)

        monkeypatch.setattr(device_memory, name, spy)
    return events


def test_old_model_leaves_the_device_before_the_new_one_is_placed(folder, tiny_request, recorded, monkeypatch):
    engine = engine_for(folder)
    manager = engine.manager
    old = manager.pipeline
    pixels(engine, image_prompt(engine, tiny_request))  # IP-Adapters loaded into the old UNet
    canny = ImagePrompt.of(engine.inputs.put(Image.new("RGB", (64, 64))), "PyraCanny")
    pixels(engine, replace(tiny_request, image_prompts=(canny,)))  # a derived ControlNet pipeline
    assert manager._derived and adapters_of(engine).unets == (old.unet,)
    adapters_of(engine).activate(old)  # as if the last image had used an image prompt
    real_place = performance_policy.place_pipeline
    seen = {}

    def place(pipeline, *args):
        recorded.append(("place_pipeline", pipeline))
        seen["derived"] = dict(manager._derived)
        adapters = adapters_of(engine)
        seen["adapters"] = (adapters.unets, adapters.encoder)
        seen["old unet"] = (old.unet.encoder_hid_proj, set(map(type, old.unet.attn_processors.values())))
        return real_place(pipeline, *args)

    monkeypatch.setattr(performance_policy, "place_pipeline", place)
    engine.switch_model(second(folder))
    new = manager.pipeline
    assert new is not old and manager.info.name == "second-model"
    assert recorded == [("release_from_device", old), ("place_pipeline", new)]
    assert seen["derived"] == {}, "derived pipelines hold the old modules"
    assert seen["adapters"] == ((), None), "the IP-Adapters in the old UNet and the image encoder go first"
    assert seen["old unet"][0] is None and ip_adapter.SlotAttnProcessor not in seen["old unet"][1]


@pytest.mark.parametrize(
    "where, failure",
    [
        ("place_pipeline", torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")),
        ("apply_fast_path", RuntimeError("CUDA error: an illegal memory access was encountered")),
    ],
)
def test_a_failed_placement_puts_the_old_model_back(folder, tiny_request, recorded, monkeypatch, where, failure):
    engine = engine_for(folder)
    manager = engine.manager
    old, old_info, old_loras, old_plan = manager.pipeline, manager.info, manager.loras, manager.memory_plan
    lora = replace(tiny_request, loras=(LoraWeight("switch-lora", 0.8),))
    requests = [tiny_request, image_prompt(engine, tiny_request), lora]
    before = [pixels(engine, request) for request in requests]

    def fail(pipeline, *args):
        recorded.append((where, pipeline))
        raise failure

    monkeypatch.setattr(performance_policy, where, fail)
    with pytest.raises(ModelUnavailable) as error:
        engine.switch_model(second(folder))
    assert f"model: '{Path(second(folder)).name}'" in str(error.value) and str(failure) in str(error.value)
    assert "'tiny' stays loaded" in str(error.value)
    assert [name for name, _ in recorded] == ["release_from_device", where, "release_from_device", "restore_to_device"]
    assert recorded[0][1] is old and recorded[2][1] is not old and recorded[3][1] is old
    assert manager.info is old_info and manager.pipeline is old
    assert manager.loras is old_loras and manager.memory_plan is old_plan
    assert all(np.array_equal(pixels(engine, request), expected) for request, expected in zip(requests, before))


def test_a_missing_file_leaves_the_old_model_untouched(folder, tiny_request, recorded):
    engine = engine_for(folder)
    old, before = engine.manager.pipeline, pixels(engine, tiny_request)
    with pytest.raises(ModelUnavailable, match="no such file or folder"):
        engine.switch_model(str(folder / "nope" / "model.safetensors"))
    assert recorded == [], "a file that cannot be read must not take the old model off the device"
    assert engine.manager.pipeline is old and engine.manager.info.name == "tiny"
    assert np.array_equal(pixels(engine, tiny_request), before)


def test_the_new_model_makes_the_images_and_switching_back_gives_the_old_ones(folder, tiny_request):
    engine = engine_for(folder)
    lora = replace(tiny_request, loras=(LoraWeight("switch-lora", 0.8),))
    old_plain, old_lora = pixels(engine, tiny_request), pixels(engine, lora)
    fresh = engine_for(folder, second(folder))
    engine.switch_model(second(folder))
    new_plain = pixels(engine, tiny_request)
    assert np.abs(new_plain.astype(int) - old_plain).mean() > 1, "another checkpoint, another picture"
    assert np.array_equal(new_plain, pixels(fresh, tiny_request))
    assert np.array_equal(pixels(engine, lora), pixels(fresh, lora)), "LoRAs are loaded into the new model"
    engine.switch_model("tiny")
    assert np.array_equal(pixels(engine, tiny_request), old_plain)
    assert np.array_equal(pixels(engine, lora), old_lora)


def test_an_image_prompt_works_on_the_new_model(folder, tiny_request):
    engine = engine_for(folder)
    steered = image_prompt(engine, tiny_request)
    pixels(engine, steered)  # the adapters are loaded into the old model's UNet
    engine.switch_model(second(folder))
    fresh = engine_for(folder, second(folder))
    got = pixels(engine, steered)
    assert adapters_of(engine).unets == (engine.manager.pipeline.unet,)
    assert np.array_equal(got, pixels(fresh, image_prompt(fresh, tiny_request)))
    assert np.abs(got.astype(int) - pixels(engine, tiny_request)).mean() > 1, "the image prompt steers"


def test_moving_a_fused_pipeline_keeps_q_k_v_as_views_of_the_fused_weight(folder):
    """`Module.to` copies each weight on its own; a move inside `fused_views_kept` must not leave the q/k/v
    weights as copies of the fused one (that would grow a restored SDXL UNet by about 1.5 GB)."""
    from diffusers.models.attention_processor import Attention

    cpu_too = performance_policy.FastPath(devices=("cuda", "cpu"), warmup=False)
    pipeline = engine_for(folder, fast_path=cpu_too).manager.pipeline
    fused = [m for m in pipeline.unet.modules() if isinstance(m, Attention) and getattr(m, "fused_projections", False)]
    assert fused, "the fast path forced on the CPU fuses QKV"

    def shared(attention) -> bool:
        projection = getattr(attention, "to_qkv", None) or attention.to_kv
        return attention.to_v.weight.untyped_storage().data_ptr() == projection.weight.untyped_storage().data_ptr()

    assert all(shared(m) for m in fused)
    with device_memory.fused_views_kept(pipeline):
        pipeline.to(torch.float64)  # moves every weight like a device move does
    assert all(shared(m) for m in fused)
    attention = fused[0]
    projection = getattr(attention, "to_qkv", None) or attention.to_kv
    rows = attention.to_v.weight.shape[0]
    assert attention.to_v.weight.dtype == torch.float64
    assert torch.equal(attention.to_v.weight, projection.weight[-rows:])
    pipeline.to(torch.float32)
    assert not all(shared(m) for m in fused), "without it the views become copies (the test can fail)"


@pytest.mark.gpu
def test_on_cuda_the_old_model_is_freed_before_the_new_one_is_placed(folder, tiny_request, monkeypatch):
    """Device memory at the new model's placement holds no old weights; a failed switch gives it all back."""
    engine = engine_for(folder, device="cuda")
    manager = engine.manager
    pixels(engine, tiny_request)
    torch.cuda.synchronize()
    resident = torch.cuda.memory_allocated()
    weights = performance_policy.model_bytes(manager.pipeline, manager.policy.dtype)
    real_place = performance_policy.place_pipeline
    at_place = []

    def place(pipeline, *args):
        at_place.append(torch.cuda.memory_allocated())
        return real_place(pipeline, *args)

    monkeypatch.setattr(performance_policy, "place_pipeline", place)
    engine.switch_model(second(folder))
    assert at_place[0] <= resident - 0.9 * weights, "the old weights must be off the GPU before the new ones go on"
    assert manager.pipeline.unet.device.type == "cuda"
    engine.switch_model("tiny")

    def out_of_memory(pipeline, *args):
        real_place(pipeline, *args)
        raise torch.OutOfMemoryError("CUDA out of memory (simulated after placing)")

    before_pixels = pixels(engine, tiny_request)
    monkeypatch.setattr(performance_policy, "place_pipeline", out_of_memory)
    torch.cuda.synchronize()
    resident = torch.cuda.memory_allocated()
    with pytest.raises(ModelUnavailable, match="out of memory"):
        engine.switch_model(second(folder))
    assert manager.pipeline.unet.device.type == "cuda" and manager.info.name == "tiny"
    assert torch.cuda.memory_allocated() <= resident + 0.02 * weights, "the new model's memory is given back"
    assert np.array_equal(pixels(engine, tiny_request), before_pixels)
