"""What choosing a preset does to the settings widgets, and what a performance mode says. No gradio here.

A preset changes exactly the fields it sets (`Preset.settings`) and nothing else. Its size becomes the
aspect ratio only if the loaded model offers that size; otherwise the aspect ratio is left as it is and a
warning says why. LoRAs the loras folder does not hold are left out, with a warning.
"""

from __future__ import annotations

from typing import Any

from studio.performance import PERFORMANCE_MODES
from studio.presets import Preset
from studio.types import GUIDANCE_FIELDS, ModelInfo
from studio.ui.fields import lora_values, size_label, size_value
from studio.ui.i18n import say

# Preset settings that map one to one onto a settings widget of the same name.
_SAME_NAME = ("performance", "steps", "cfg_scale", "sampler", "negative_prompt", *GUIDANCE_FIELDS)


def preset_widget_values(
    preset: Preset, info: ModelInfo, lora_names: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """(settings widget values by FIELD_NAMES name, warnings) for applying `preset` with `info` loaded."""
    settings = preset.settings
    values: dict[str, Any] = {name: settings[name] for name in _SAME_NAME if name in settings}
    warnings: list[str] = []
    if "styles" in settings:
        values["styles"] = list(settings["styles"])
    if "width" in settings or "height" in settings:
        size = (settings.get("width"), settings.get("height"))
        if size in info.native_sizes:
            values["aspect_ratio"] = size_value(*size)
        elif None in size:
            warnings.append(f"Preset '{preset.name}' sets only one side of the size; the aspect ratio was left as is.")
        else:
            warnings.append(
                f"Preset '{preset.name}' asks for {size_label(*size)}, which '{info.name}' does not offer; "
                "the aspect ratio was left as is."
            )
    if "loras" in settings:
        missing = [lora.name for lora in settings["loras"] if lora.name not in lora_names]
        if missing:
            warnings.append(
                f"Preset '{preset.name}' uses the LoRA(s) {', '.join(missing)}, not in the loras folder; left out."
            )
        values.update(lora_values([lora for lora in settings["loras"] if lora.name in lora_names]))
    return values, warnings


def needs_model_switch(preset: Preset, info: ModelInfo) -> bool:
    return bool(preset.model) and preset.model not in (info.name, info.source)


def performance_note(name: str) -> str:
    """What a performance mode does, for the note beside the radio."""
    mode = PERFORMANCE_MODES[name]
    if mode.forced:
        return say(f"**{mode.name}** forces {mode.describe()}; the steps, guidance and sampler settings are ignored.")
    return say(f"**{mode.name}**: {mode.describe()} (written into Steps; you can change it).")
