"""User style files: Fooocus-format JSON (`[{"name", "prompt", "negative_prompt"}]`) dropped into
`<models-dir>/styles`, listed beside the shipped styles.

The shipped styles must all be good (a bad one is the studio's bug). A user's file is checked as strictly
(JSON only, `{prompt}` once, the same lengths), except that `negative_prompt` may be left out, as Fooocus
allows; but a bad file only costs a warning naming it, and the other files still load. A user style named
like one already listed is skipped (the warning names it); the rest of its file loads.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from studio.styles import STYLES_DIR, Style, StyleError, StyleLibrary, _read_entry, read_style_list, slug

USER_STYLES_FOLDER = "styles"  # under the models folder
MAX_USER_FILES = 200

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedStyles:
    library: StyleLibrary
    warnings: tuple[str, ...] = ()  # one per user file that was refused or had styles skipped
    user_count: int = 0  # how many user styles are listed


def user_styles_folder(models_dir: Path | str) -> Path:
    return Path(models_dir) / USER_STYLES_FOLDER


def load_styles(user_folder: Path | str | None, shipped: Path | str = STYLES_DIR) -> LoadedStyles:
    """The shipped styles (StyleError if they are broken) plus every good user file of `user_folder`."""
    library = StyleLibrary.load(shipped)
    if user_folder is None or not Path(user_folder).is_dir():
        return LoadedStyles(library)
    taken = {key for style in library.styles for key in _keys(style)}
    styles = list(library.styles)
    warnings: list[str] = []
    paths = sorted(Path(user_folder).glob("*.json"))
    if len(paths) > MAX_USER_FILES:
        warnings.append(f"{user_folder}: only the first {MAX_USER_FILES} of {len(paths)} style files were read")
    user_count = 0
    for path in paths[:MAX_USER_FILES]:
        try:
            found = read_user_file(path)
        except StyleError as error:
            warnings.append(f"Style file {path.name} was not loaded: {_without_folder(str(error), path)}")
            continue
        skipped = []
        for style in found:
            if taken & set(_keys(style)):
                skipped.append(style.name)
                continue
            taken.update(_keys(style))
            styles.append(style)
            user_count += 1
        if skipped:
            warnings.append(f"Style file {path.name}: {', '.join(skipped)} skipped (a style of that name is already listed)")
    for warning in warnings:
        log.warning("%s", warning)
    styles.sort(key=lambda style: (style.family, style.name.casefold()))
    return LoadedStyles(StyleLibrary(tuple(styles)), tuple(warnings), user_count)


def read_user_file(path: Path) -> list[Style]:
    """A user's style file, each entry checked as the shipped ones are (negative_prompt may be missing)."""
    data = read_style_list(path)
    family = user_family(path)
    entries = [{"negative_prompt": "", **entry} if isinstance(entry, dict) else entry for entry in data]
    return [_read_entry(path, index, entry, family) for index, entry in enumerate(entries)]


def user_family(path: Path) -> str:
    """A family name from any file name: "My Styles.json" -> "my_styles"."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.casefold()).strip("_") or "user"


def reload_styles(engine) -> LoadedStyles:
    """Re-read the user style files into `engine`'s libraries (the Refresh button and POST /v1/styles/refresh);
    a job already resolving keeps the library it started with."""
    loaded = load_styles(user_styles_folder(engine.manager.settings.models_dir))
    engine.libraries = replace(engine.libraries, styles=loaded.library)
    return loaded


def _keys(style: Style) -> tuple[str, str]:
    return style.name.casefold(), "slug:" + slug(style.name)


def _without_folder(message: str, path: Path) -> str:
    """A StyleError's message without the server path it starts with (the warning names the file)."""
    return message.removeprefix(f"{path}: ")
