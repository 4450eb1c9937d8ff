"""Prompt styles: `styles/*.json` (one file per family) loaded, validated and applied as pure functions.

A style file is a JSON list of objects with exactly the keys `name`, `prompt` and `negative_prompt`; the
prompt holds `{prompt}` once, where the text it styles goes. Files are parsed with `json` only and checked
entry by entry; a bad file is an error naming the file and the entry, never a silently skipped style.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from studio.types import InvalidRequest

STYLES_DIR = Path(__file__).resolve().parents[1] / "styles"
RANDOM_STYLE = "Random style"
PLACEHOLDER = "{prompt}"
STYLE_KEYS = ("name", "prompt", "negative_prompt")
MAX_NAME_LENGTH = 60
MAX_TEMPLATE_LENGTH = 1000
MAX_FILE_BYTES = 1024 * 1024

_SEPARATORS = " ,\t\r\n"


class StyleError(ValueError):
    """A style file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str  # template holding "{prompt}" once
    negative_prompt: str
    family: str  # the file's stem, e.g. "photography"

    def render(self, text: str) -> str:
        return self.prompt.replace(PLACEHOLDER, text, 1)


def slug(name: str) -> str:
    """A filesystem-safe name for a style ("Film Noir" -> "film-noir"), unique within a library."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "style"


def family_title(family: str) -> str:
    """A family's display name: "anime_manga" -> "Anime manga"."""
    return family.replace("_", " ").capitalize()


@dataclass(frozen=True)
class StyleLibrary:
    styles: tuple[Style, ...]  # sorted by family, then name

    @classmethod
    def load(cls, folder: Path | str = STYLES_DIR) -> StyleLibrary:
        """Read every `*.json` in `folder`; raise StyleError on the first bad file, entry or duplicate name."""
        folder = Path(folder)
        if not folder.is_dir():
            raise StyleError(f"{folder}: the styles folder does not exist")
        styles: list[Style] = []
        seen: dict[str, Path] = {}  # casefolded name or slug -> file that defined it
        for path in sorted(folder.glob("*.json")):
            for style in _read_file(path):
                for key in (style.name.casefold(), "slug:" + slug(style.name)):
                    if key in seen:
                        clash = f"has the same name (or file-name slug) as one in {seen[key].name}"
                        raise StyleError(f"{path}: style '{style.name}' {clash}")
                    seen[key] = path
                styles.append(style)
        if not styles:
            raise StyleError(f"{folder}: holds no styles (no *.json files, or only empty lists)")
        styles.sort(key=lambda style: (style.family, style.name.casefold()))
        return cls(tuple(styles))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(style.name for style in self.styles)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(style.family for style in self.styles))

    def in_family(self, family: str) -> tuple[str, ...]:
        return tuple(style.name for style in self.styles if style.family == family)

    def get(self, name: str) -> Style:
        for style in self.styles:
            if style.name == name:
                return style
        raise InvalidRequest("styles", f"'{name}' is not a style; see `python -m studio styles`")

    def search(self, text: str) -> tuple[str, ...]:
        """Names whose name, family or template contains every word of `text` (case-insensitive)."""
        words = text.casefold().split()
        return tuple(
            style.name
            for style in self.styles
            if all(word in f"{style.name} {style.family} {style.prompt}".casefold() for word in words)
        )

    def resolve_names(self, names: tuple[str, ...] | list[str], seed: int) -> tuple[str, ...]:
        """The styles to apply, in order: duplicates dropped, each RANDOM_STYLE replaced by a style drawn with
        `random.Random(seed)` (the image seed, so the same seed picks the same style) from the styles not
        already chosen. Unknown names raise InvalidRequest("styles", ...)."""
        explicit = [name for name in names if name != RANDOM_STYLE]
        for name in explicit:
            self.get(name)
        chosen = set(explicit)
        rng = random.Random(seed)
        resolved: list[str] = []
        for name in names:
            if name == RANDOM_STYLE:
                candidates = [candidate for candidate in self.names if candidate not in chosen]
                if not candidates:
                    raise InvalidRequest("styles", "no style is left for 'Random style' to pick")
                name = rng.choice(candidates)
                chosen.add(name)
            if name not in resolved:
                resolved.append(name)
        return tuple(resolved)

    def apply(
        self, prompt: str, negative_prompt: str, names: tuple[str, ...] | list[str], seed: int = 0
    ) -> tuple[str, str]:
        """Apply styles to a prompt; returns the styled (prompt, negative_prompt).

        Order rule: styles apply in the order given, each nesting the result so far. The user's prompt goes
        where `{prompt}` is in the first style, and that whole text goes where `{prompt}` is in the second,
        and so on: ["Film Noir", "Watercolor Wash"] on "a cat" gives "watercolor painting, film noir still,
        a cat, ..., ...". An empty prompt leaves no dangling separators (", ," and leading/trailing commas
        are removed). Negatives: the user's first, then each style's in order, split on commas, de-duplicated
        case-insensitively keeping the first spelling; a style's negative term that another chosen style's
        template asks for (as whole words, e.g. Film Noir's "painting" beside Watercolor Wash's "watercolor
        painting") is left out, so mixed styles do not fight. With no styles both texts come back unchanged.
        RANDOM_STYLE entries are resolved first with `seed` (see `resolve_names`).
        """
        resolved = self.resolve_names(names, seed)
        if not resolved:
            return prompt, negative_prompt
        styles = [self.get(name) for name in resolved]
        text = prompt.strip()
        negatives = [negative_prompt]
        for style in styles:
            text = style.render(text)
            others = " , ".join(
                other.prompt.replace(PLACEHOLDER, ",").casefold() for other in styles if other is not style
            )
            negatives.append(
                ", ".join(part for part in style.negative_prompt.split(",") if not _mentions(others, part))
            )
        return _tidy(text), merge_negatives(negatives)

    def template_markdown(self, name: str) -> str:
        """A style's template as Markdown, for the UI to show beside the picker or on hover."""
        if name == RANDOM_STYLE:
            return f"**{RANDOM_STYLE}**: one more style, picked by the image seed from those not already chosen."
        style = self.get(name)
        negative = f"\n\nNegative: `{style.negative_prompt}`" if style.negative_prompt else ""
        return f"**{style.name}** · {family_title(style.family)}\n\nPrompt: `{style.prompt}`{negative}"


def merge_negatives(texts: list[str] | tuple[str, ...]) -> str:
    """Comma-separated parts of every text, in order, without case-insensitive duplicates or empties."""
    parts: dict[str, str] = {}
    for text in texts:
        for part in text.split(","):
            part = " ".join(part.split())
            if part and part.casefold() not in parts:
                parts[part.casefold()] = part
    return ", ".join(parts.values())


def _mentions(text: str, phrase: str) -> bool:
    phrase = " ".join(phrase.split()).casefold()
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _tidy(text: str) -> str:
    text = re.sub(r"\s*,(\s*,)+", ",", text)  # ", ," left where an empty prompt was
    text = re.sub(r"[ \t]+,", ",", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(_SEPARATORS)


def read_style_list(path: Path) -> list:
    """A style file's JSON list, size-capped and parsed as JSON only; StyleError names the file otherwise."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise StyleError(f"{path}: is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StyleError(f"{path}: is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise StyleError(
            f"{path}: is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise StyleError(f"{path}: nests too deep to be a style list") from None
    if not isinstance(data, list):
        raise StyleError(f"{path}: must hold a JSON list of styles, not {type(data).__name__}")
    return data


def _read_file(path: Path) -> list[Style]:
    data = read_style_list(path)
    family = path.stem
    if not re.fullmatch(r"[a-z0-9_]+", family):
        raise StyleError(f"{path}: a style file's name must be lower-case letters, digits and underscores")
    return [_read_entry(path, index, entry, family) for index, entry in enumerate(data)]


def _read_entry(path: Path, index: int, entry: object, family: str) -> Style:
    where = f"{path}: entry {index}"
    if not isinstance(entry, dict):
        raise StyleError(f"{where}: must be an object with keys {', '.join(STYLE_KEYS)}")
    if isinstance(entry.get("name"), str):
        where += f" ('{entry['name']}')"
    missing = [key for key in STYLE_KEYS if key not in entry]
    extra = sorted(set(entry) - set(STYLE_KEYS))
    if missing or extra:
        problems = [f"missing {', '.join(missing)}"] * bool(missing) + [f"unknown {', '.join(extra)}"] * bool(extra)
        raise StyleError(f"{where}: {'; '.join(problems)} (keys must be exactly {', '.join(STYLE_KEYS)})")
    for key in STYLE_KEYS:
        if not isinstance(entry[key], str):
            raise StyleError(f"{where}: '{key}' must be a string")
    name, template, negative = (entry[key] for key in STYLE_KEYS)
    if not name.strip() or name != name.strip() or not name.isprintable():
        raise StyleError(f"{where}: 'name' must be non-empty printable text without surrounding spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise StyleError(f"{where}: 'name' is {len(name)} characters; at most {MAX_NAME_LENGTH} are allowed")
    if name.casefold() == RANDOM_STYLE.casefold():
        raise StyleError(f"{where}: '{RANDOM_STYLE}' is reserved")
    for key, value in (("prompt", template), ("negative_prompt", negative)):
        if len(value) > MAX_TEMPLATE_LENGTH:
            raise StyleError(f"{where}: '{key}' is {len(value)} characters; at most {MAX_TEMPLATE_LENGTH} are allowed")
    if template.count(PLACEHOLDER) != 1:
        raise StyleError(f"{where}: 'prompt' must contain {PLACEHOLDER} exactly once")
    if PLACEHOLDER in negative:
        raise StyleError(f"{where}: 'negative_prompt' must not contain {PLACEHOLDER}")
    return Style(name=name, prompt=template, negative_prompt=negative, family=family)
