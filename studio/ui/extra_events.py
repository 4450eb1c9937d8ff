"""Event wiring of the side tabs and the expansion row: presets, performance, styles, base model, LoRAs,
Expand, Compare.

Handlers read settings by name (`inputs_kwargs`) and write back only the widgets they mean to change.
Work that runs the engine (the plain-vs-expanded comparison) runs in a worker thread. Every handler is
guarded (`studio.ui.guard`): an error becomes one readable warning, and the studio carries on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.expansion.side_by_side import compare_expansion
from studio.expansion.translation import translate_prompt
from studio.performance import PERFORMANCE_MODES
from studio.presets import load_presets
from studio.resolve import expanded_prompt
from studio.styles import RANDOM_STYLE
from studio.types import InvalidRequest
from studio.ui.banner import banner_html
from studio.ui.comparison import Outcome, follow_in_thread
from studio.ui.events import gallery_items
from studio.ui.fields import LORA_SLOTS, NO_LORA, aspect_ratio_choices, request_from_values
from studio.ui.guard import guarded, guarded_stream, warn
from studio.ui.i18n import request_locale, say
from studio.ui.messages import user_message
from studio.ui.model_files import kept_refiner, kept_vae, refiner_choices, vae_choices, with_embedding
from studio.ui.preset_fields import needs_model_switch, performance_note, preset_widget_values
from studio.ui.session import Session
from studio.ui.side_tabs import preview_folder
from studio.ui.style_picker import filtered_choices, preview_items, templates_markdown
from studio.user_styles import reload_styles

if TYPE_CHECKING:
    from studio.services import Services
    from studio.ui.layout import Widgets

log = logging.getLogger(__name__)
PRIVATE = {"api_visibility": "private"}
PRESET, COMPARE = "Preset", "Compare"  # what the user did, as warnings are titled


def switch_to_preset_model(services: Services, preset) -> bool:
    """Load the preset's model if it is not the loaded one; on ModelUnavailable warn and keep the current
    model. Returns whether the model changed."""
    from studio.models import ModelUnavailable  # torch comes with it; the engine has loaded it already

    if not needs_model_switch(preset, services.manager.info):
        return False
    current = services.manager.info.name
    try:
        services.engine.switch_model(preset.model)
    except ModelUnavailable as error:
        log.warning("preset %s: model %s unavailable: %s", preset.name, preset.model, error)  # why, for the admin
        warn(
            PRESET,
            f"Preset: '{preset.name}' uses the model '{preset.model}', which is not available here (not downloaded, "
            f"or offline), so '{current}' stays loaded and its other settings are applied.",
        )
        return False
    gr.Info(say(f"Loaded '{services.manager.info.name}' for preset '{preset.name}'."), title=say(PRESET))
    return True


def model_choice(services: Services, value: str | None) -> dict:
    """The base-model dropdown re-listed (the checkpoints folder read again), keeping `value` if it is still
    available, else showing the loaded model."""
    names = services.manager.available_models()
    return gr.update(choices=list(names), value=value if value in names else services.manager.info.name)


def aspect_ratio_choice(info, current: str | None) -> dict:
    """The aspect-ratio dropdown for `info`'s model: its sizes, keeping `current` if it offers it."""
    choices = aspect_ratio_choices(info)
    values = [value for _label, value in choices]
    return gr.update(choices=choices, value=current if current in values else "{}x{}".format(*info.default_size))


def file_dropdowns(widgets: Widgets) -> list:
    """The dropdowns that list files of the models folder: the base model, the LoRA slots, then (15B) the VAE,
    the embeddings and the refiner."""
    settings = widgets.settings
    return [
        settings["model"],
        *(settings[name_field] for name_field, _ in LORA_SLOTS),
        settings["vae"],
        widgets.extras["embedding_insert"],
        settings["refiner"],
    ]


def file_refresher(services: Services):
    """A handler re-listing `file_dropdowns` from their folders, keeping each value that is still there (the
    Refresh button, and every page load: files added since the app was built show up)."""

    def refresh_files(model: str | None, *values: str) -> list[Any]:
        loras, (vae, _embedding, refiner) = values[: len(LORA_SLOTS)], values[len(LORA_SLOTS) :]
        names = [NO_LORA, *services.engine.libraries.loras.names()]
        lora_updates = [gr.update(choices=names, value=value if value in names else NO_LORA) for value in loras]
        vae_names, checkpoints = services.engine.vaes.library.names(), services.manager.checkpoints.names()
        return [
            model_choice(services, model),
            *lora_updates,
            gr.update(choices=vae_choices(vae_names), value=kept_vae(vae, vae_names)),
            gr.update(choices=list(services.engine.embeddings.library.names()), value=None),
            gr.update(choices=refiner_choices(checkpoints), value=kept_refiner(refiner, checkpoints)),
        ]

    return refresh_files


def preset_handler(services: Services, widgets: Widgets):
    settings = widgets.settings

    def choose_preset(name: str | None) -> dict:
        presets = load_presets()
        if not name or name not in presets:  # the list opened and closed without a choice
            return gr.skip()
        preset = presets[name]
        switched = switch_to_preset_model(services, preset)
        info = services.manager.info
        values, warnings = preset_widget_values(preset, info, services.engine.libraries.loras.names())
        for warning in warnings:
            warn(PRESET, warning)
        updates: dict[Any, Any] = {settings[field]: value for field, value in values.items()}
        if switched:
            updates[widgets.banner] = banner_html(info)
            chosen = values.get("aspect_ratio", "{}x{}".format(*info.default_size))
            updates[settings["aspect_ratio"]] = gr.update(choices=aspect_ratio_choices(info), value=chosen)
        if preset.model and not needs_model_switch(preset, info):  # the preset's model is loaded: choose it
            updates[settings["model"]] = model_choice(services, info.name)
        if "performance" in values:
            updates[widgets.extras["performance_note"]] = performance_note(values["performance"])
        return updates or gr.skip()

    return choose_preset


def expansion_mode(values: dict[str, Any], purpose: str) -> str:
    """The chosen expansion mode and a prompt to expand, or InvalidRequest saying which is missing."""
    mode = values.get("expansion")
    if mode not in ("local", "llm", "instruct"):
        raise InvalidRequest("expansion", f"choose Local, LLM or Local (instruct) to {purpose}")
    if not str(values.get("prompt") or "").strip():
        raise InvalidRequest("prompt", f"write a prompt first, then {purpose}")
    return mode


def expand_handler(services: Services):
    """Expand: the prompt's seeded expansion into the Expanded prompt box; InvalidRequest or ExpansionError
    when it cannot be had (the guard around it shows them; the box is left as it is)."""

    def expand(**values: Any) -> str:
        mode = expansion_mode(values, "expand it")
        request = request_from_values({**values, "expanded_prompt": ""}, services.manager.info)
        # 18: as Generate does: translated first (when Translate asks), then expanded
        prompt = translate_prompt(services.engine.libraries.expanders, request.translate, request.prompt).prompt
        return expanded_prompt(services.engine.libraries, mode, prompt, request.seed)

    return expand


def compare_expansion_handler(services: Services, widgets: Widgets):
    def compare(session: Session, **values: Any):
        mode = expansion_mode(values, "compare the plain and the expanded prompt")
        request = request_from_values({**values, "expanded_prompt": "", "expansion": "none"}, services.manager.info)
        services.engine.validate(request)
        yield {
            widgets.progress: say(f"Comparing the plain and the {mode}-expanded prompt at seed {request.seed}…"),
            widgets.settings["seed"]: str(request.seed),
        }

        store = services.store.space(session.owner_id())  # this user's own images (all of them without logins)

        def work(report):
            return compare_expansion(services.engine, request, mode, store)

        for item in follow_in_thread(work, name="expansion-compare"):
            if isinstance(item, Outcome):
                if item.error is not None:
                    raise item.error
                comparison = item.value
                session.add_results(list(comparison.records))
                sheet = [(comparison.sheet_path, f"plain vs {mode} expansion · seed {request.seed}")]
                yield {
                    widgets.gallery: session.show(sheet + gallery_items(session.results)),
                    widgets.progress: say(f"Compared at seed {request.seed}: sheet saved as `{comparison.sheet_path}`"),
                    widgets.session: session,
                }

    return compare


def wire_extra_events(services: Services, widgets: Widgets) -> None:
    settings, extras = widgets.settings, widgets.extras

    # `.change`, not `.input`: gradio's Dropdown fires `input` on a choice and again as it closes (so every
    # preset ran twice), and on merely opening and closing it. Nothing else sets the preset dropdown.
    extras["preset"].change(
        guarded(PRESET, preset_handler(services, widgets)),
        inputs=extras["preset"],
        outputs=[*settings.values(), widgets.banner, extras["performance_note"]],
        **PRIVATE,
    )

    def choose_performance(name: str) -> list[Any]:
        mode = PERFORMANCE_MODES[name]
        steps = gr.skip() if mode.forced else mode.steps  # a forced mode's settings are applied at resolution
        return [steps, performance_note(name)]

    settings["performance"].input(
        guarded("Performance", choose_performance),
        inputs=settings["performance"],
        outputs=[settings["steps"], extras["performance_note"]],
        **PRIVATE,
    )

    def show_styles(search: str, chosen: list[str]) -> list[Any]:
        library = services.engine.libraries.styles  # 15D: as refreshed from <models-dir>/styles
        previews = preview_items(library, preview_folder(services), chosen or [], search or "")
        return [
            gr.update(choices=filtered_choices(library, search or "", chosen or [])),
            templates_markdown(library, chosen or []),
            gr.update(value=previews, visible=bool(previews)),
            gr.update(visible=not previews),
        ]

    style_outputs = [settings["styles"], extras["style_templates"], extras["style_previews"], extras["style_note"]]
    # The search on `.change`: gradio's Textbox fires no `input` for deleted text, so an emptied search kept
    # the list filtered. (`.change` runs the last value after a pending one; nothing else sets the search.)
    for event in (extras["style_search"].change, settings["styles"].change):
        event(
            guarded("Styles", show_styles),
            inputs=[extras["style_search"], settings["styles"]],
            outputs=style_outputs,
            **PRIVATE,
        )

    def add_previewed_style(chosen: list[str], selected: gr.SelectData) -> list[str] | Any:
        caption = selected.value.get("caption") if isinstance(selected.value, dict) else None
        if not caption or caption in (chosen or []):
            return gr.skip()
        return [*(chosen or []), caption]

    extras["style_previews"].select(
        guarded("Styles", add_previewed_style), inputs=settings["styles"], outputs=settings["styles"], **PRIVATE
    )

    def refresh_style_files(search: str, chosen: list[str]) -> list[Any]:  # 15D
        loaded = reload_styles(services.engine)
        for warning in loaded.warnings:
            warn("Styles", warning)
        # no "<models-dir>" here: a toast is HTML, and the brackets would read as a tag
        gr.Info(f"{loaded.user_count} user style(s) listed, from the styles folder of --models-dir.", title="Styles")
        kept = [name for name in chosen or [] if name in (*loaded.library.names, RANDOM_STYLE)]
        updates = show_styles(search, kept)
        updates[0] = gr.update(choices=filtered_choices(loaded.library, search or "", kept), value=kept)
        return updates

    extras["styles_refresh"].click(
        guarded("Styles", refresh_style_files),
        inputs=[extras["style_search"], settings["styles"]],
        outputs=style_outputs,
        **PRIVATE,
    )

    def choose_model(name: str | None, aspect_ratio: str | None) -> dict:
        try:  # the sizes of the model the next job will use
            return aspect_ratio_choice(services.manager.info_for(name or ""), aspect_ratio)
        except InvalidRequest:  # gone from the folder since it was listed: Generate will say so
            return gr.skip()

    settings["model"].input(
        guarded("Base model", choose_model),
        inputs=[settings["model"], settings["aspect_ratio"]],
        outputs=settings["aspect_ratio"],
        queue=False,  # at once: a Generate clicked right after must send a size the new list holds
        **PRIVATE,
    )

    def add_embedding(prompt: str | None, name: str | None) -> list[Any]:
        return [with_embedding(prompt, name), gr.update(value=None)]

    extras["embedding_insert"].input(
        guarded("Embeddings", add_embedding),
        inputs=[settings["prompt"], extras["embedding_insert"]],
        outputs=[settings["prompt"], extras["embedding_insert"]],
        queue=False,
        **PRIVATE,
    )

    dropdowns = file_dropdowns(widgets)
    extras["files_refresh"].click(
        guarded("Refresh all files", file_refresher(services)), inputs=dropdowns, outputs=dropdowns, **PRIVATE
    )

    extras["expand"].click(
        guarded("Expand", expand_handler(services)),
        inputs_kwargs=settings,
        outputs=settings["expanded_prompt"],
        api_name="ui_expand",
        **PRIVATE,
    )
    def comparison_failed(error: BaseException | None) -> dict | None:
        """A failed comparison must not leave "Comparing…" on the page."""
        if error is None:
            return None
        return {widgets.progress: say(f"Comparison failed: {user_message(error, 'Compare', request_locale())}")}

    extras["compare_expansion"].click(
        guarded_stream(COMPARE, compare_expansion_handler(services, widgets), end=comparison_failed),
        inputs=[widgets.session],
        inputs_kwargs=settings,
        outputs=[widgets.gallery, widgets.progress, widgets.session, settings["seed"]],
        show_progress="minimal",
        api_name="ui_compare_expansion",
        **PRIVATE,
    )
