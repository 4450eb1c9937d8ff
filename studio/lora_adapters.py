"""LoRA files loaded into the resident pipeline as peft adapters, switched per image without reloading.

A file is loaded once (keyed by path, size and modification time, so an edited file is loaded afresh) and
kept; each image activates exactly its own adapters with their weights, and an image with none disables
them all, which gives the base model's output exactly.
"""

from __future__ import annotations

from pathlib import Path


class LoadedLoras:
    def __init__(self) -> None:
        self._adapter_names: dict[tuple, str] = {}

    def activate(self, pipeline, files: list[tuple[Path, float]]) -> None:
        names, weights = [], []
        for path, weight in files:
            stat = path.stat()
            key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            name = self._adapter_names.get(key)
            if name is None:
                name = f"lora_{len(self._adapter_names)}"
                pipeline.load_lora_weights(str(path), adapter_name=name)
                self._adapter_names[key] = name
            names.append(name)
            weights.append(weight)
        if names:
            pipeline.enable_lora()
            pipeline.set_adapters(names, adapter_weights=weights)
        elif self._adapter_names:
            pipeline.disable_lora()
