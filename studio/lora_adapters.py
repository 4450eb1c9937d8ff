"""LoRA files loaded into the resident models as peft adapters, switched per image without reloading.

A file is loaded once per model (keyed by path, size and modification time, so an edited file is loaded
afresh) and kept; each image activates exactly its own adapters with their weights, and an image with none
disables them all, which gives the model's own output exactly.

`LoadedLoras` adapts the base pipeline: its UNet and both text encoders. `UnetLoras` adapts a UNet the
pipeline does not hold (the `--inpaint-model` UNet): it samples with the base pipeline's text encoders, whose
adapters `LoadedLoras` already switches, so only the UNet part of each file is loaded into it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from studio.types import InvalidRequest

LoraFiles = list[tuple[Path, float]]  # (file, weight) of each LoRA an image uses


def file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


class LoraSwitch:
    """Loads each LoRA file into its target once (`_load`) and switches the image's adapters on with their
    weights; an image with none disables them all."""

    def __init__(self) -> None:
        self._adapter_names: dict[tuple, str | None] = {}  # None: the file holds nothing for this target

    def _load(self, target, path: Path, name: str) -> str | None:
        raise NotImplementedError

    def _load_checked(self, target, path: Path, name: str) -> str | None:
        """`_load`, with a file that is no LoRA (truncated, another kind of model) refused as bad input naming
        it, instead of the loader's own error (a class name and the file's server path)."""
        import torch

        try:
            return self._load(target, path, name)
        except (InvalidRequest, torch.OutOfMemoryError):
            raise
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            raise InvalidRequest(
                "loras", f"'{path.stem}' could not be read as a LoRA file; it may be damaged or not a LoRA"
            ) from error

    def activate(self, target, files: LoraFiles) -> None:
        names, weights = [], []
        for path, weight in files:
            key = file_key(path)
            if key not in self._adapter_names:
                self._adapter_names[key] = self._load_checked(target, path, f"lora_{len(self._adapter_names)}")
            if self._adapter_names[key] is not None:
                names.append(self._adapter_names[key])
                weights.append(weight)
        if names:
            target.enable_lora()
            target.set_adapters(names, weights)
        elif any(self._adapter_names.values()):
            target.disable_lora()


class LoadedLoras(LoraSwitch):
    @staticmethod
    def unet_of(pipeline):
        return pipeline.unet

    def _load(self, pipeline, path: Path, name: str) -> str:
        pipeline.load_lora_weights(str(path), adapter_name=name)
        return name


class UnetLoras(LoraSwitch):
    @staticmethod
    def unet_of(unet):
        return unet

    def _load(self, unet, path: Path, name: str) -> str | None:
        return _load_unet_part(unet, path, name)


def _load_unet_part(unet, path: Path, name: str) -> str | None:
    """Load the UNet weights of a LoRA file into `unet` as adapter `name`, split from the file exactly as
    `StableDiffusionXLPipeline.load_lora_weights` does (kohya keys mapped onto this UNet's blocks first).
    Returns the name, or None when the file has no UNet weights; InvalidRequest when they do not fit."""
    import torch
    from diffusers.loaders import StableDiffusionXLLoraLoaderMixin as SdxlLoras

    state_dict, alphas, metadata = SdxlLoras.lora_state_dict(
        str(path), unet_config=unet.config, return_lora_metadata=True
    )
    try:
        with _offload_lifted(unet):
            SdxlLoras.load_lora_into_unet(state_dict, alphas, unet=unet, adapter_name=name, metadata=metadata)
    except torch.OutOfMemoryError:
        raise
    except (ValueError, RuntimeError, KeyError) as error:
        cause = str(error).strip().splitlines()[-1].strip() if str(error).strip() else type(error).__name__
        raise InvalidRequest(
            "loras", f"'{path.stem}' cannot be applied to the inpainting UNet (--inpaint-model): {cause}"
        ) from error
    return name if name in getattr(unet, "peft_config", {}) else None


@contextmanager
def _offload_lifted(unet):
    """accelerate's `cpu_offload` (the cpu-offload memory plan) keeps the weights on the meta device between
    calls, where peft would create the adapter weights too and lose them: lift it while adapters load."""
    devices = [
        module._hf_hook.execution_device
        for module in unet.modules()
        if getattr(getattr(module, "_hf_hook", None), "offload", False)
    ]
    if not devices:
        yield
        return
    from accelerate import cpu_offload
    from accelerate.hooks import remove_hook_from_module

    remove_hook_from_module(unet, recurse=True)  # puts the offloaded weights back into the modules
    try:
        yield
    finally:
        cpu_offload(unet, execution_device=devices[0])
