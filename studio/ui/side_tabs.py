"""The settings column's tabs: Setting (preset, performance, size, seed), Advanced, Styles and Models.

Each builder only creates components inside the open `gr.Tabs` and returns them by name: settings widgets
under their FIELD_NAMES name, the rest (notes, buttons) in `extras`. Bounds come from the declared limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.performance import PERFORMANCE_NAMES
from studio.presets import load_presets
from studio.schedulers import SAMPLER_NAMES, SCHEDULE_NAMES
from studio.style_previews import default_preview_dir
from studio.types import LORA_WEIGHT_LIMIT, MAX_STYLES, Limit, limit_of
from studio.ui.fields import LORA_SLOTS, NO_LORA, aspect_ratio_choices
from studio.ui.guidance_group import build_guidance_group
from studio.ui.model_files import refiner_choices, vae_choices
from studio.ui.preset_fields import performance_note
from studio.ui.style_picker import NO_PREVIEWS_NOTE, preview_items, style_choices, templates_markdown

if TYPE_CHECKING:
    from studio.services import Services

Components = dict[str, Any]


def _slider(name: str, label: str, value: Any, step: float, limit: Limit | None = None, **kwargs) -> gr.Slider:
    limit = limit or limit_of(name)
    return gr.Slider(minimum=limit.low, maximum=limit.high, step=step, value=value, label=label, **kwargs)


def build_setting_tab(services: Services, defaults: dict[str, Any], settings: Components, extras: Components) -> None:
    info = services.manager.info
    seed_limit = limit_of("seed")
    with gr.Tab("Setting", id="setting"):
        extras["preset"] = gr.Dropdown(
            choices=list(load_presets()),
            value=services.settings.preset or None,
            label="Preset",
            info="Sets its model and the settings it names; everything else stays as it is",
            elem_id="studio-preset",
        )
        settings["performance"] = gr.Radio(
            choices=list(PERFORMANCE_NAMES),
            value=defaults["performance"],
            label="Performance",
            elem_id="studio-performance",
        )
        extras["performance_note"] = gr.Markdown(
            performance_note(defaults["performance"]), elem_id="studio-performance-note"
        )
        settings["aspect_ratio"] = gr.Dropdown(
            choices=aspect_ratio_choices(info),
            value=defaults["aspect_ratio"],
            label="Aspect ratio (width × height)",
            elem_id="studio-aspect-ratio",
        )
        settings["image_count"] = _slider("image_count", "Image count", defaults["image_count"], step=1)
        settings["negative_prompt"] = gr.Textbox(
            value=defaults["negative_prompt"],
            label="Negative prompt",
            placeholder="What to avoid",
            lines=2,
            max_length=int(limit_of("negative_prompt").high),
        )
        with gr.Row(equal_height=True):
            settings["random_seed"] = gr.Checkbox(value=defaults["random_seed"], label="Random seed", min_width=120)
            settings["seed"] = gr.Textbox(
                value=defaults["seed"],
                label="Seed",
                max_lines=1,
                info=f"{int(seed_limit.low)} to {int(seed_limit.high)}; image i uses seed + i",
                scale=3,
                elem_id="studio-seed",
            )


def build_advanced_tab(defaults: dict[str, Any], settings: Components) -> None:
    with gr.Tab("Advanced", id="advanced"):
        settings["steps"] = _slider("steps", "Steps", defaults["steps"], step=1)
        settings["cfg_scale"] = _slider("cfg_scale", "Guidance (CFG)", defaults["cfg_scale"], step=0.1)
        settings["sampler"] = gr.Dropdown(choices=list(SAMPLER_NAMES), value=defaults["sampler"], label="Sampler")
        build_guidance_group(defaults, settings)  # 15A: sharpness, ADM, CFG mimicking, FreeU, CLIP skip
        with gr.Row():  # 15D: the saved file's format
            settings["output_format"] = gr.Dropdown(
                choices=[("PNG (lossless)", "png"), ("JPEG", "jpeg"), ("WebP", "webp")],
                value=defaults["output_format"],
                label="Output format",
                elem_id="studio-output-format",
            )
            settings["output_quality"] = _slider("output_quality", "JPEG/WebP quality", defaults["output_quality"], step=1)
        settings["scheduler"] = gr.Dropdown(
            choices=list(SCHEDULE_NAMES),
            value=defaults["scheduler"],
            label="Scheduler",
            info="The noise schedule; 'default' is the sampler's own (e.g. Karras for 'DPM++ 2M SDE Karras')",
            elem_id="studio-scheduler",
        )
        # 15c: how the images of one request differ
        settings["disable_seed_increment"] = gr.Checkbox(
            value=defaults["disable_seed_increment"], label="Disable seed increment",
            info="Every image uses the seed itself (off: image i uses seed + i)", elem_id="studio-same-seed",
        )  # fmt: skip
        settings["wildcards_in_order"] = gr.Checkbox(
            value=defaults["wildcards_in_order"], label="Read wildcards in order",
            info="Image i takes line i of each __wildcard__ file (off: a line picked by the image's seed)",
            elem_id="studio-wildcards-in-order",
        )  # fmt: skip


def preview_folder(services: Services):
    return default_preview_dir(services.settings.models_dir, services.manager.info.name)


def build_styles_tab(services: Services, defaults: dict[str, Any], settings: Components, extras: Components) -> None:
    library = services.engine.libraries.styles
    previews = preview_items(library, preview_folder(services), defaults["styles"], "")
    with gr.Tab("Styles", id="styles"):
        extras["style_search"] = gr.Textbox(
            label="Search styles",
            placeholder="e.g. noir, watercolor, anime",
            max_lines=1,
            elem_id="studio-style-search",
        )
        settings["styles"] = gr.Dropdown(
            choices=style_choices(library),
            value=defaults["styles"],
            multiselect=True,
            max_choices=MAX_STYLES,
            label="Styles (applied in the order chosen)",
            elem_id="studio-styles",
        )
        extras["style_templates"] = gr.Markdown(
            templates_markdown(library, defaults["styles"]), elem_id="studio-style-templates"
        )
        extras["style_previews"] = gr.Gallery(
            value=previews,
            label="Style previews (click one to add it)",
            columns=4,
            height=300,
            object_fit="contain",
            interactive=False,
            visible=bool(previews),
            elem_id="studio-style-previews",
        )
        extras["style_note"] = gr.Markdown(NO_PREVIEWS_NOTE, visible=not previews)
        # 15D: Fooocus-format JSON files dropped into <models-dir>/styles are listed beside the shipped styles
        extras["styles_refresh"] = gr.Button("Refresh style files", size="sm", elem_id="studio-styles-refresh")


def shown_folder(folder) -> str:
    """A models folder as the page names it: `<models-dir>/loras`, never the server's own path (the page may be
    open to others; whoever runs the studio chose --models-dir and the console names it)."""
    return f"<models-dir>/{Path(folder).name}"


def build_models_tab(services: Services, defaults: dict[str, Any], settings: Components, extras: Components) -> None:
    names = [NO_LORA, *services.engine.libraries.loras.names()]
    with gr.Tab("Models", id="models"):
        settings["model"] = gr.Dropdown(
            choices=list(services.manager.available_models()),
            value=defaults["model"],
            label="Base model",
            info=f"Checkpoints from `{shown_folder(services.manager.checkpoints.folder)}`; loaded when a job uses it",
            elem_id="studio-model",
        )
        settings["vae"] = gr.Dropdown(
            choices=vae_choices(services.engine.vaes.library.names()),
            value=defaults["vae"],
            label="VAE",
            info=f"From `{shown_folder(services.engine.vaes.library.folder)}`; loaded once, kept while the model is",
            elem_id="studio-vae",
        )
        with gr.Row(equal_height=True):
            settings["refiner"] = gr.Dropdown(
                choices=refiner_choices(services.manager.checkpoints.names()),
                value=defaults["refiner"],
                label="Refiner",
                info="A second checkpoint that finishes the image (text-to-image)",
                scale=3,
                elem_id="studio-refiner",
            )
            settings["refiner_switch"] = _slider(
                "refiner_switch", "Refiner switch", defaults["refiner_switch"], step=0.01, scale=2
            )
        extras["embedding_insert"] = gr.Dropdown(
            choices=list(services.engine.embeddings.library.names()),
            value=None,
            label="Embeddings (add one to the prompt)",
            info=f"From `{shown_folder(services.engine.embeddings.library.folder)}`; in a prompt as embedding:name "
            "or (embedding:name:1.2)",
            elem_id="studio-embedding-insert",
        )
        gr.Markdown(f"LoRAs from `{shown_folder(services.engine.libraries.loras.folder)}`")
        for index, (name_field, weight_field) in enumerate(LORA_SLOTS, start=1):
            with gr.Row(equal_height=True):
                settings[name_field] = gr.Dropdown(
                    choices=names,
                    value=defaults[name_field],
                    label=f"LoRA {index}",
                    scale=3,
                    elem_id=f"studio-{name_field}",
                )
                settings[weight_field] = _slider(
                    weight_field, "Weight", defaults[weight_field], step=0.01, limit=LORA_WEIGHT_LIMIT, scale=2
                )
        extras["files_refresh"] = gr.Button(
            "Refresh all files", size="sm", elem_id="studio-files-refresh"
        )  # checkpoints and LoRAs added to the folders since the page was built
