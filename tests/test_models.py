"""Model loading through the PipelineManager: folders, single files, refusals, hub failures."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine import Engine
from studio.models import ModelUnavailable, PipelineManager, UnsafeCheckpoint
from studio.settings import Settings
from studio.tiny import save_tiny_sdxl, save_tiny_single_file


def manager_for(source, tmp_path) -> PipelineManager:
    manager = PipelineManager(Settings(model=str(source), models_dir=tmp_path / "models", device="cpu", offline=True))
    manager.load()
    return manager


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return save_tiny_sdxl(folder / "tiny-folder"), save_tiny_single_file(folder / "tiny.safetensors")


def test_folder_and_single_file_load_the_same_model(tiny_files, tmp_path, tiny_services, tiny_request):
    expected = np.asarray(tiny_services.engine.run(tiny_request).images[0].image)
    for source in tiny_files:
        manager = manager_for(source, tmp_path)
        assert manager.info.random_weights, f"{source} should be recognised as the tiny test model"
        assert manager.info.name == source.name
        assert np.array_equal(np.asarray(Engine(manager).run(tiny_request).images[0].image), expected)


def test_model_is_loaded_once_and_stays_resident(tiny_services, tiny_request):
    unet = tiny_services.manager.pipeline.unet
    tiny_services.engine.run(tiny_request)
    tiny_services.engine.run(tiny_request)
    assert tiny_services.manager.pipeline.unet is unet


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickled_checkpoints_are_refused_before_reading(tmp_path, suffix):
    checkpoint = tmp_path / f"model{suffix}"
    checkpoint.write_bytes(b"\x80\x04\x95 anything")
    with pytest.raises(UnsafeCheckpoint, match="pickled"):
        manager_for(checkpoint, tmp_path)


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ModelUnavailable, match="no such file or folder"):
        manager_for(tmp_path / "nope" / "model.safetensors", tmp_path)


def test_hub_model_offline_says_what_to_do(tmp_path):
    with pytest.raises(ModelUnavailable) as error:
        manager_for("someone/some-sdxl-model", tmp_path)
    message = str(error.value)
    assert "someone/some-sdxl-model" in message and "--models-dir" in message and "--model" in message


def test_random_bytes_in_safetensors_file_fail_clearly(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelUnavailable, match="broken.safetensors"):
        manager_for(broken, tmp_path)
