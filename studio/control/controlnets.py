"""ControlNets for the structure slot types, loaded from the registry once and kept for every request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from studio import registry

# Which registry ControlNet each structure slot type feeds (see registry.py for why these).
CONTROLNET_FOR_TYPE = {
    "PyraCanny": registry.CONTROLNET_CANNY_SDXL,
    "CPDS": registry.CONTROLNET_DEPTH_SDXL,
    "Depth": registry.CONTROLNET_DEPTH_SDXL,
    "Pose": registry.CONTROLNET_OPENPOSE_SDXL,
}


class ControlNets:
    def __init__(self, folder_for: Callable[[registry.HubModel], Path], device: str, dtype):
        self._folder_for = folder_for
        self._device = device
        self._dtype = dtype
        self._loaded: dict[Path, object] = {}

    def model_for(self, slot_type: str):
        """The loaded ControlNetModel for a slot type; the same object every time (derived pipelines are
        cached by it), and one model serves every slot and type that uses it."""
        from diffusers import ControlNetModel

        model = CONTROLNET_FOR_TYPE[slot_type]
        folder = Path(self._folder_for(model))
        if folder not in self._loaded:
            variant = "fp16" if any(".fp16." in pattern for pattern in model.allow_patterns) else None
            controlnet = ControlNetModel.from_pretrained(
                folder, torch_dtype=self._dtype, variant=variant, use_safetensors=True, local_files_only=True
            )
            self._loaded[folder] = controlnet.to(self._device).eval()
        return self._loaded[folder]
