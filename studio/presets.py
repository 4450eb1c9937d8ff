"""Presets (`presets/*.json`): a checkpoint plus the request settings it works best with.

A preset file is `{"version": 1, "name", "description", "model", "settings": {...}}` where settings may set
any of PRESET_FIELDS. A user adds a preset by dropping a file in the folder; no code changes. Applying a
preset changes exactly the fields it sets and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from studio.types import GUIDANCE_FIELDS, GenerationRequest, InvalidRequest, validate_request

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
PRESET_VERSION = 1
PRESET_FIELDS = ("performance", "steps", "cfg_scale", "sampler", "styles", "width", "height", "negative_prompt", "loras")
PRESET_FIELDS += GUIDANCE_FIELDS  # 15A: the sampling-loop look
MAX_PRESET_BYTES = 64 * 1024


class PresetError(ValueError):
    """A preset file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: str
    settings: MappingProxyType  # request field -> value, already validated

    def apply(self, request: GenerationRequest) -> GenerationRequest:
        return replace(request, **self.settings)


def load_presets(folder: Path = PRESETS_DIR) -> MappingProxyType:
    presets = {}
    for path in sorted(Path(folder).glob("*.json")):
        preset = read_preset(path)
        if preset.name in presets:
            raise PresetError(f"{path}: the name '{preset.name}' is used by another preset")
        presets[preset.name] = preset
    return MappingProxyType(presets)


def read_preset(path: Path) -> Preset:
    if path.stat().st_size > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: larger than {MAX_PRESET_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PresetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("version") != PRESET_VERSION:
        raise PresetError(f"{path}: must be a JSON object with \"version\": {PRESET_VERSION}")
    unknown = set(data) - {"version", "name", "description", "model", "settings"}
    if unknown:
        raise PresetError(f"{path}: unknown key '{min(unknown)}'")
    name, model, settings = data.get("name"), data.get("model", ""), data.get("settings", {})
    if not isinstance(name, str) or not name.strip() or not isinstance(model, str) or not isinstance(settings, dict):
        raise PresetError(f"{path}: needs a text 'name', a text 'model' and a 'settings' object")
    unknown = set(settings) - set(PRESET_FIELDS)
    if unknown:
        raise PresetError(f"{path}: settings.{min(unknown)} is not a preset setting ({', '.join(PRESET_FIELDS)})")
    try:
        parsed = GenerationRequest.from_dict(settings)
        validate_request(parsed, size_limit=None)
    except InvalidRequest as error:
        raise PresetError(f"{path}: settings.{error}") from None
    values = {key: getattr(parsed, key) for key in settings}
    return Preset(name.strip(), str(data.get("description", "")), model, MappingProxyType(values))


def get_preset(name: str, folder: Path = PRESETS_DIR) -> Preset:
    presets = load_presets(folder)
    if name not in presets:
        raise InvalidRequest("preset", f"'{name}' is unknown; choose one of: {', '.join(presets)}")
    return presets[name]


def preset_values(preset: Preset) -> dict[str, Any]:
    """The preset's settings as request JSON (for the API and the UI)."""
    return {key: GenerationRequest(**{key: value}).to_dict()[key] for key, value in preset.settings.items()}
