"""The Advanced tab's "Sharpness, ADM, CFG mimicking, FreeU, CLIP skip" group (15A): one slider per request
field, its bounds the field's declared limit."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import gradio as gr

from studio.types import GenerationRequest
from studio.ui.guidance_fields import GUIDANCE_LABELS, WHOLE_NUMBER_FIELDS

_STEPS = {"sharpness": 0.1, "adaptive_cfg": 0.1}  # the rest: 0.01, or 1 for whole numbers
_ROWS = (
    ("sharpness", "adaptive_cfg"),
    ("adm_scale_positive", "adm_scale_negative", "adm_scale_end"),
    ("freeu_b1", "freeu_b2", "freeu_s1", "freeu_s2"),
    ("clip_skip",),
)


def build_guidance_group(defaults: dict[str, Any], settings: dict[str, Any]) -> None:
    declared = {f.name: f for f in fields(GenerationRequest)}
    with gr.Accordion("Sharpness, ADM guidance, CFG mimicking, FreeU, CLIP skip", open=False, elem_id="studio-guidance"):
        gr.Markdown(
            "Fooocus's look: the presets set Sharpness 2, ADM 1.5 / 0.8 until 0.3 of the steps and CFG mimicking 7. "
            "Neutral values (Sharpness 0, ADM 1 / 1, mimicking 0, FreeU all 1, CLIP skip 0) turn each one off."
        )
        for row in _ROWS:
            with gr.Row():
                for name in row:
                    limit = declared[name].metadata["limit"]
                    settings[name] = gr.Slider(
                        minimum=limit.low,
                        maximum=limit.high,
                        step=1 if name in WHOLE_NUMBER_FIELDS else _STEPS.get(name, 0.01),
                        value=defaults[name],
                        label=GUIDANCE_LABELS[name],
                        info=declared[name].metadata["help"],
                        elem_id=f"studio-{name.replace('_', '-')}",
                    )
