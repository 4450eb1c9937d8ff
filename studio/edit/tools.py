"""The edit tools' own models (the 4x upscaler, the captioner), loaded on first use and kept with the engine.

Where they come from: the registry (a local copy in `<models-dir>/registry/<org--repo>/` wins, else the hub),
or, when the studio runs the tiny random model (`--model tiny`, tests), tiny random ones built into the models
folder, so every tool works offline there too. Both kinds load through the same functions.
"""

from __future__ import annotations

import threading
from pathlib import Path

from studio import registry, tiny
from studio.models import ModelUnavailable


class EditModels:
    def __init__(self, manager, random_weights: bool | None = None):
        self.manager = manager
        # None: follow the loaded checkpoint (tiny random weights -> tiny tools); describe-only runs say it.
        self._random_weights = random_weights
        self._upscaler = None
        self._captioner = None
        self._lock = threading.Lock()

    def _random(self) -> bool:
        return self.manager.info.random_weights if self._random_weights is None else self._random_weights

    def upscaler_path(self) -> Path:
        if self._random():
            path = self.manager.settings.models_dir / "tiny-upscaler" / "tiny_esrgan_x4.safetensors"
            return path if path.is_file() else tiny.save_tiny_upscaler(path)
        return self.manager.registry_file(registry.UPSCALER_4X)

    def captioner_folder(self) -> Path:
        if self._random():
            folder = self.manager.settings.models_dir / "tiny-captioner"
            return folder if tiny.is_tiny_folder(folder) else tiny.save_tiny_captioner(folder)
        return self.manager.registry_file(registry.CAPTIONER).parent

    def upscaler(self):
        from studio.edit.upscale import load_upscaler

        with self._lock:
            if self._upscaler is None:
                path = self.upscaler_path()
                try:
                    self._upscaler = load_upscaler(path, self.manager.policy.device, self.manager.policy.dtype)
                except Exception as error:  # a foreign or broken file: say which
                    raise ModelUnavailable(f"upscale model {path} could not be loaded ({error})") from error
            return self._upscaler

    def captioner(self):
        from studio.edit.describe import load_captioner

        with self._lock:
            if self._captioner is None:
                folder = self.captioner_folder()
                try:
                    self._captioner = load_captioner(folder, self.manager.policy.device, self.manager.policy.dtype)
                except Exception as error:
                    raise ModelUnavailable(f"describe model in {folder} could not be loaded ({error})") from error
            return self._captioner

    def describe(self, image, style: str = "photo") -> str:
        """Image -> prompt text (see describe.py); for the UI's Describe button and `python -m studio describe`."""
        from studio.edit.describe import describe

        return describe(self.captioner(), image, style)
