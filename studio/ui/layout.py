"""The page's widgets, Fooocus-like: prompt and Generate, then the results, in the main column; settings at the
side (below, on a phone).

`build_layout` only creates components (inside an open `gr.Blocks`) and returns them by name; the events
are wired in `studio.ui.events` (generation) and `studio.ui.extra_events` (presets, styles, LoRAs, expansion,
comparison). Every numeric bound comes from a declared limit (`limit_of` and the features' own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.types import FOOOCUS_LOOK, limit_of
from studio.ui.banner import BANNER_CSS, banner_html
from studio.ui.compare_tab import CompareWidgets, build_compare_tab
from studio.ui.fields import FIELD_NAMES, default_values
from studio.ui.generation import PREVIEW_SIDE
from studio.ui.i18n import page_text
from studio.ui.input_fields import INPUT_FIELD_NAMES
from studio.ui.input_panel import InputPanel, build_input_panel
from studio.ui.session import Session
from studio.ui.side_tabs import build_advanced_tab, build_models_tab, build_setting_tab, build_styles_tab
from studio.ui.token_counter import build_token_counter

if TYPE_CHECKING:
    from studio.services import Services


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
    banner: gr.HTML
    extras: dict[str, Any]  # notes and buttons of the side tabs and the expansion row, by name (side_tabs.py)
    compare: CompareWidgets
    inputs: dict[str, Any]  # the Input Image panel's request widgets, keyed by input_fields.INPUT_FIELD_NAMES
    input_panel: InputPanel
    use_selected: gr.Button  # "Use as input": the selected result into the editor and Vary/Upscale image


EXPANSION_NOTE = (
    "LLM endpoint, model and the variable holding its key, set by the studio's start-up options and not here, "
    "so no request can point the server elsewhere:"
)


def _expansion_row(services: Services, defaults: dict[str, Any], settings: dict, extras: dict) -> None:
    endpoint = services.settings.expansion
    with gr.Accordion("Prompt expansion", open=True, elem_id="studio-expansion"):
        with gr.Row(equal_height=True):
            settings["expansion"] = gr.Radio(
                choices=[("None", "none"), ("Local", "local"), ("LLM", "llm"), ("Local (instruct)", "instruct")],
                value=defaults["expansion"],
                label="Expansion",
                scale=3,
                elem_id="studio-expansion-mode",
            )
            extras["expand"] = gr.Button("Expand", size="sm", min_width=80, elem_id="studio-expand")
            extras["compare_expansion"] = gr.Button(
                "Compare", size="sm", min_width=80, elem_id="studio-compare-expansion"
            )
        settings["expanded_prompt"] = gr.Textbox(
            value=defaults["expanded_prompt"],
            label="Expanded prompt",
            info="Edit freely: while this holds text, Generate uses it as the prompt and expands nothing",
            lines=2,
            max_length=int(limit_of("prompt").high),
            elem_id="studio-expanded-prompt",
        )
        settings["translate"] = gr.Radio(  # 18
            choices=[("Off", "off"), ("Auto (non-Latin scripts)", "auto"), ("Always", "always")],
            value=defaults["translate"],
            label="Translate to English",
            info="Before encoding, with the local instruct model: CLIP reads English only",
            elem_id="studio-translate",
        )
        extras["expansion_note"] = gr.Markdown(
            # one translated sentence first (the page translates one marker per text), then the facts as they are
            f"{page_text(EXPANSION_NOTE)} `{endpoint.base_url}` · `{endpoint.model}` · `${endpoint.api_key_env}`",
            elem_id="studio-expansion-endpoint",
        )


def build_layout(services: Services) -> Widgets:
    info = services.manager.info
    defaults = {**default_values(info), **FOOOCUS_LOOK}
    if services.settings.preset:  # `app.py --preset NAME`: the page starts with the preset's settings
        from studio.presets import get_preset
        from studio.ui.preset_fields import preset_widget_values

        preset = get_preset(services.settings.preset)
        defaults.update(preset_widget_values(preset, info, services.engine.libraries.loras.names())[0])
    settings: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    banner = gr.HTML(banner_html(info), css_template=BANNER_CSS, js_on_load=None, elem_id="studio-banner")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=520):
            # Prompt and Generate/Stop first: the live preview and the gallery below them can never push them off
            # the first screen (a 900-pixel-high window, a phone).
            with gr.Row(equal_height=True):
                settings["prompt"] = gr.Textbox(
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
            build_token_counter(defaults, extras)  # 18: under the prompt
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
                    use_selected = gr.Button(
                        "Use as input (the selected image)", size="sm", interactive=False, elem_id="studio-use-selected"
                    )
                with gr.Tab("History", id="history"):
                    refresh_history = gr.Button("Refresh", size="sm")
                    history = gr.Gallery(
                        label="Saved images, newest first",
                        columns=4,  # as the results: a caption (a seed, up to 19 digits) fits uncut
                        height=560,
                        object_fit="contain",
                        interactive=False,
                        elem_id="studio-history",
                    )
                with gr.Tab("Compare samplers", id="compare"):
                    compare = build_compare_tab()
            inputs: dict[str, Any] = {}
            input_panel = build_input_panel(inputs)
            _expansion_row(services, defaults, settings, extras)
        with gr.Column(scale=2, min_width=340), gr.Tabs():
            build_setting_tab(services, defaults, settings, extras)
            build_styles_tab(services, defaults, settings, extras)
            build_models_tab(services, defaults, settings, extras)
            build_advanced_tab(defaults, settings)
            with gr.Tab("Load parameters", id="load"):
                load_image = gr.Image(
                    label="Drop an image saved by this studio, Fooocus or A1111 (PNG, JPEG, WebP) to fill in its settings",
                    type="filepath",
                    image_mode=None,  # keep the uploaded file as it is: its metadata is what we read
                    sources=["upload"],
                    height=300,
                    elem_id="studio-load",
                )
    missing = set(FIELD_NAMES) ^ set(settings)
    if missing:
        raise RuntimeError(f"settings widgets and FIELD_NAMES disagree: {sorted(missing)}")
    return Widgets(
        settings={name: settings[name] for name in FIELD_NAMES},
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
        banner=banner,
        extras=extras,
        compare=compare,
        inputs={name: inputs[name] for name in INPUT_FIELD_NAMES},
        input_panel=input_panel,
        use_selected=use_selected,
    )
