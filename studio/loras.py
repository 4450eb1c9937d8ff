"""LoRAs chosen by name from the loras folder (safetensors only, never by path) and inline `<lora:name:w>`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.library_names import is_library_name
from studio.types import MAX_LORAS, InvalidRequest, LoraWeight, echo

INLINE_LORA = re.compile(r"<lora:([^:<>]+):\s*(-?\d+(?:\.\d+)?)\s*>")


@dataclass(frozen=True)
class LoraLibrary:
    folder: Path

    def names(self) -> tuple[str, ...]:
        if not self.folder.is_dir():
            return ()
        return tuple(sorted(path.stem for path in self.folder.glob("*.safetensors") if path.is_file()))

    def path(self, name: str) -> Path:
        """The file of a LoRA named in a request; anything not a file in the folder is refused."""
        if not is_library_name(name) or name not in self.names():
            known = ", ".join(self.names()) or "none"
            raise InvalidRequest("loras", f"'{echo(name)}' is not a LoRA in the loras folder (known: {known})")
        return self.folder / f"{name}.safetensors"


def extract_inline_loras(prompt: str) -> tuple[str, tuple[LoraWeight, ...]]:
    """The prompt without `<lora:name:weight>` tags, and the LoRAs they named, in order."""
    loras = tuple(LoraWeight(name.strip(), float(weight)) for name, weight in INLINE_LORA.findall(prompt))
    text = INLINE_LORA.sub("", prompt)
    return re.sub(r"\s{2,}", " ", text).strip(" ,"), loras


def merge_loras(chosen: tuple[LoraWeight, ...], inline: tuple[LoraWeight, ...]) -> tuple[LoraWeight, ...]:
    """Chosen slots first, then inline tags; a name given twice keeps its last weight."""
    merged: dict[str, float] = {}
    for lora in (*chosen, *inline):
        merged.pop(lora.name, None)
        merged[lora.name] = lora.weight
    if len(merged) > MAX_LORAS:
        raise InvalidRequest("loras", f"{len(merged)} LoRAs are named; at most {MAX_LORAS} are allowed")
    return tuple(LoraWeight(name, weight) for name, weight in merged.items())
