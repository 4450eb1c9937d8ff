"""The page in English, 简体中文 and 繁體中文, with gradio's own `gr.I18n` (the words: `studio.translations`).

- The layout (labels, info, placeholders, buttons, tabs, accordions, Markdown, choices) is translated in the
  browser: `localize(demo, StudioI18n(...))` replaces each English text that has a translation by a `gr.I18n`
  marker (its key is the English text), so a new widget needs nothing here, only its words in the locale files.
  The page's language is the browser's (`navigator.language`), unless `--language` forces one.
- What the server says while it runs (warnings, errors, statuses) is translated on the server with `say(text)`,
  in the language of the page whose event is being handled: `--language` if given, else its Accept-Language.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.translations import ENGLISH, LOCALES, catalogue, locale_of, translate

# the properties gradio's front end translates; `value` only where it is text a person reads, not data
TEXT_PROPS = ("label", "info", "placeholder")
VALUE_TEXT_TYPES = (gr.Button, gr.Markdown, gr.UploadButton, gr.DownloadButton, gr.ClearButton)


class StudioI18n(gr.I18n):
    """gradio's translations for the page, and the language every page is forced into (None: the browser's)."""

    def __init__(self, forced: str | None = None):
        if forced is not None and forced not in LOCALES:
            raise ValueError(f"--language must be one of {', '.join(LOCALES)}, not '{forced}'")
        self.forced = forced
        pages = {locale: catalogue(locale).exact for locale in LOCALES}
        if forced is not None:  # whatever language gradio picks shows the forced one (any other falls back to en)
            pages = {locale: pages[forced] for locale in LOCALES}
        super().__init__(**pages)


def page_text(text: str) -> str:
    """`text` marked for translation inside a longer text the page shows (a Markdown or HTML value)."""
    return str(gr.I18n()(text))


def _marked(text: Any, known: set[str]) -> Any:
    return gr.I18n()(text) if isinstance(text, str) and text in known else text


def localize(demo: gr.Blocks, i18n: StudioI18n) -> gr.Blocks:
    """Mark every English text of the built page that has a translation, and give `demo` its translations
    (`mount_gradio_app` keeps them; `launch` needs `i18n=demo.i18n_instance`). It runs last in `build_ui`:
    while the page is wired a widget's `label` is still its English text; afterwards it may be a marker."""
    known = set().union(*(catalogue(locale).exact for locale in LOCALES if locale != ENGLISH))
    for block in demo.blocks.values():
        for prop in TEXT_PROPS:
            if isinstance(getattr(block, prop, None), str):
                setattr(block, prop, _marked(getattr(block, prop), known))
        if isinstance(block, VALUE_TEXT_TYPES):
            block.value = _marked(block.value, known)
        choices = getattr(block, "choices", None)
        if isinstance(choices, list):
            block.choices = [
                (_marked(choice[0], known), choice[1]) if isinstance(choice, tuple) else choice for choice in choices
            ]
    demo.i18n_instance = i18n
    return demo


def request_locale() -> str:
    """The language of the page whose event is being handled: `--language` if given, else its browser's
    (English outside an event)."""
    from gradio.context import LocalContext

    forced = getattr(getattr(LocalContext.blocks.get(None), "i18n_instance", None), "forced", None)
    if forced:
        return forced
    request = LocalContext.request.get(None)
    headers = getattr(request, "headers", None)
    return locale_of(headers.get("accept-language") if headers is not None else None)


def say(text: str) -> str:
    """`text` in the language of the page being served."""
    return translate(text, request_locale())
