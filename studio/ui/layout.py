"""The page's widgets, laid out Fooocus-style: results and prompt in the main column, settings at the side.

`build_layout` only creates components (inside an open `gr.Blocks`) and returns them by name; the events
are wired in `studio.ui.events`. Every numeric bound comes from `limit_of`, declared once in studio.types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.schedulers import SAMPLER_NAMES
from studio.types import ModelInfo, limit_of
from studio.ui.banner import BANNER_CSS, banner_html
from studio.ui.fields import aspect_ratio_choices, default_values
from studio.ui.generation import PREVIEW_SIDE
from studio.ui.session import Session


@dataclass(frozen=True)
class Widgets:
    settings: dict[str, gr.components.Component]  # keyed by studio.ui.fields.FIELD_NAMES
    session: gr.State
    gallery: gr.Gallery
    preview: gr.Image
    progress: gr.Markdown
    generate: gr.Button
    stop: gr.Button
    skip: gr.Button
    history: gr.Gallery
    refresh_history: gr.Button
    load_image: gr.Image


def _slider(name: str, label: str, value: Any, step: float, info: str | None = None) -> gr.Slider:
    limit = limit_of(name)
    return gr.Slider(minimum=limit.low, maximum=limit.high, step=step, value=value, label=label, info=info)


def build_layout(info: ModelInfo) -> Widgets:
    defaults = default_values(info)
    seed_limit = limit_of("seed")
    gr.HTML(banner_html(info), css_template=BANNER_CSS, js_on_load=None, elem_id="studio-banner")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=520):
            with gr.Tabs():
                with gr.Tab("Results", id="results"):
                    progress = gr.Markdown("Ready.", elem_id="studio-progress")
                    preview = gr.Image(
                        label="Preview",
                        visible=False,
                        interactive=False,
                        height=PREVIEW_SIDE,
                        buttons=[],
                        elem_id="studio-preview",
                    )
                    gallery = gr.Gallery(
                        label="This session's images",
                        columns=4,
                        height=520,
                        object_fit="contain",
                        interactive=False,
                        elem_id="studio-gallery",
                    )
                with gr.Tab("History", id="history"):
                    refresh_history = gr.Button("Refresh", size="sm")
                    history = gr.Gallery(
                        label="Saved images, newest first",
                        columns=6,
                        height=560,
                        object_fit="contain",
                        interactive=False,
                        elem_id="studio-history",
                    )
            with gr.Row(equal_height=True):
                prompt = gr.Textbox(
                    value=defaults["prompt"],
                    label="Prompt",
                    placeholder="Describe the picture, e.g. a lighthouse on a cliff at dusk, oil painting",
                    lines=3,
                    max_length=int(limit_of("prompt").high),
                    scale=5,
                    elem_id="studio-prompt",
                )
                with gr.Column(scale=1, min_width=160):
                    generate = gr.Button("Generate", variant="primary", size="lg", elem_id="studio-generate")
                    with gr.Row():
                        stop = gr.Button("Stop", variant="stop", interactive=False, min_width=60, elem_id="studio-stop")
                        skip = gr.Button("Skip", interactive=False, min_width=60, elem_id="studio-skip")
        with gr.Column(scale=2, min_width=340), gr.Tabs():
            with gr.Tab("Advanced", id="advanced"):
                aspect_ratio = gr.Dropdown(
                    choices=aspect_ratio_choices(info),
                    value=defaults["aspect_ratio"],
                    label="Aspect ratio (width × height)",
                )
                image_count = _slider("image_count", "Image count", defaults["image_count"], step=1)
                negative_prompt = gr.Textbox(
                    value=defaults["negative_prompt"],
                    label="Negative prompt",
                    placeholder="What to avoid",
                    lines=2,
                    max_length=int(limit_of("negative_prompt").high),
                )
                with gr.Row(equal_height=True):
                    random_seed = gr.Checkbox(value=defaults["random_seed"], label="Random seed", min_width=120)
                    seed = gr.Textbox(
                        value=defaults["seed"],
                        label="Seed",
                        max_lines=1,
                        info=f"{int(seed_limit.low)} to {int(seed_limit.high)}; image i uses seed + i",
                        scale=3,
                        elem_id="studio-seed",
                    )
                steps = _slider("steps", "Steps", defaults["steps"], step=1)
                cfg_scale = _slider("cfg_scale", "Guidance (CFG)", defaults["cfg_scale"], step=0.1)
                sampler = gr.Dropdown(choices=list(SAMPLER_NAMES), value=defaults["sampler"], label="Sampler")
            with gr.Tab("Load parameters", id="load"):
                load_image = gr.Image(
                    label="Drop a PNG saved by this studio to fill in its settings",
                    type="filepath",
                    image_mode=None,  # keep the uploaded file as it is: its metadata is what we read
                    sources=["upload"],
                    height=300,
                    elem_id="studio-load",
                )
    settings = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "image_count": image_count,
        "seed": seed,
        "random_seed": random_seed,
        "aspect_ratio": aspect_ratio,
        "steps": steps,
        "cfg_scale": cfg_scale,
        "sampler": sampler,
    }
    return Widgets(
        settings=settings,
        session=gr.State(Session()),  # gradio deep-copies it for each browser session
        gallery=gallery,
        preview=preview,
        progress=progress,
        generate=generate,
        stop=stop,
        skip=skip,
        history=history,
        refresh_history=refresh_history,
        load_image=load_image,
    )
