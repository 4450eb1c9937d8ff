"""The SDXL base 1.0 component configs the project ships, so single-file checkpoints load offline.

`configs/sdxl_base/` holds the diffusers configs of stabilityai/stable-diffusion-xl-base-1.0 (model_index.json,
unet/, vae/, text_encoder/, text_encoder_2/, scheduler/): JSON only, no weights and no tokenizer files (the
tokenizers come from `studio.clip_tokenizer`). Pass it as `config=` to `from_single_file`.
"""

from __future__ import annotations

import json
from pathlib import Path

SDXL_CONFIG_DIR: Path = Path(__file__).resolve().parent / "configs" / "sdxl_base"


def sdxl_scheduler_config() -> dict:
    """SDXL base 1.0's EulerDiscreteScheduler config (a fresh dict each call), for `Scheduler.from_config`."""
    return json.loads((SDXL_CONFIG_DIR / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))


def sdxl_component_config(component: str) -> dict:
    """The config of one SDXL component folder (`unet`, `vae`, `text_encoder`, `text_encoder_2`)."""
    return json.loads((SDXL_CONFIG_DIR / component / "config.json").read_text(encoding="utf-8"))
