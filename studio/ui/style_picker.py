"""The style picker's data: choices ordered by family, the chosen templates, and preview thumbnails on disk.

No gradio here. Previews are made by `python -m studio style-previews` into the model's preview folder
(`studio.style_previews.default_preview_dir`); styles without a thumbnail are simply not shown.
"""

from __future__ import annotations

from pathlib import Path

from studio.style_previews import preview_path
from studio.styles import RANDOM_STYLE, StyleLibrary, family_title
from studio.ui.i18n import say

PREVIEW_LIMIT = 60  # thumbnails shown at once; searching narrows them
NO_PREVIEWS_NOTE = "No style previews yet: run `python -m studio style-previews` to make previews."


def style_choices(library: StyleLibrary, names: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs, "Random style" first, then by family ("Cinematic · Film Noir"); only `names`
    (kept in library order) when given."""
    wanted = None if names is None else set(names)
    choices = [(RANDOM_STYLE, RANDOM_STYLE)] if wanted is None or RANDOM_STYLE in wanted else []
    choices += [
        (f"{family_title(style.family)} · {style.name}", style.name)
        for style in library.styles
        if wanted is None or style.name in wanted
    ]
    return choices


def filtered_choices(library: StyleLibrary, search: str, chosen: list[str]) -> list[tuple[str, str]]:
    """The choices matching `search` (every word, in name, family or template), plus those already chosen."""
    if not search.strip():
        return style_choices(library)
    matches = set(library.search(search)) | set(chosen or ())
    if all(word in RANDOM_STYLE.casefold() for word in search.casefold().split()):
        matches.add(RANDOM_STYLE)
    return style_choices(library, tuple(matches))


def templates_markdown(library: StyleLibrary, chosen: list[str]) -> str:
    if not chosen:
        return say("No style chosen: the prompt is used as typed. Styles apply in the order chosen.")
    parts = [library.template_markdown(name) for name in chosen if name == RANDOM_STYLE or name in library.names]
    return "\n\n---\n\n".join(parts)


def preview_items(library: StyleLibrary, folder: Path | str, chosen: list[str], search: str) -> list[tuple[str, str]]:
    """(thumbnail path, style name) for the chosen styles, then those matching `search` (all without a
    search), that have a thumbnail on disk; at most PREVIEW_LIMIT."""
    others = library.search(search) if search.strip() else library.names
    items = []
    for name in dict.fromkeys([*(chosen or ()), *others]):
        if name == RANDOM_STYLE:
            continue
        path = preview_path(folder, name)
        if path.is_file():
            items.append((str(path), name))
            if len(items) >= PREVIEW_LIMIT:
                break
    return items
