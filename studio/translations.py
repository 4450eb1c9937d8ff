"""The studio's words in English, 简体中文 and 繁體中文: the catalogues and the lookup. No gradio here.

Key scheme: a translation's key is the English text exactly as the code writes it ("Prompt", "Generate",
"Image count"). English needs no file; `studio/locales/<locale>.json` maps each English text to its
translation. A text with no translation is shown in English, so nothing breaks when a new widget or message
has none yet: add its English text and translation to every locale file (tests/test_i18n.py names what is
missing). A key may hold `{slot}`s for text that varies ("Image prompt {n}"); the slots are taken from the
English text it matches, and themselves translated. Templates are tried in the file's order, so one that a
more general one would also match comes first. A status made of parts joined by " · " is translated part by
part.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

LOCALES = ("en", "zh-CN", "zh-TW")
ENGLISH = "en"
LOCALES_DIR = Path(__file__).with_name("locales")
SEPARATOR = " · "
_SLOT = re.compile(r"\{(\w+)\}")


def has_slots(key: str) -> bool:
    return bool(_SLOT.search(key))


@dataclass(frozen=True)
class Catalogue:
    """One language's translations: exact texts, and templates with `{slot}`s for texts that vary."""

    locale: str
    exact: dict[str, str]
    templates: tuple[tuple[str, re.Pattern[str], str], ...]  # (key, its pattern, translation)

    def translate(self, text: str) -> str:
        if text in self.exact:
            return self.exact[text]
        if SEPARATOR in text:  # a status of parts ("Image 1/2 · step 3/30"): each part on its own
            return SEPARATOR.join(self.translate(part) for part in text.split(SEPARATOR))
        for _key, pattern, translation in self.templates:
            if match := pattern.fullmatch(text):
                return translation.format(**{name: self.translate(value) for name, value in match.groupdict().items()})
        return text

    def fill(self, key: str, **values: str) -> str:
        """The translation of the template `key` with its slots filled (English: `key` filled)."""
        translation = next((text for candidate, _pattern, text in self.templates if candidate == key), key)
        return translation.format(**values)


def _pattern(key: str) -> re.Pattern[str]:
    parts = _SLOT.split(key)  # text, slot, text, slot, ...
    return re.compile(
        "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts)),
        re.DOTALL,
    )


def read_locale_file(locale: str) -> dict[str, str]:
    """English text -> translation, as written in `locales/<locale>.json` (English itself has no file)."""
    if locale == ENGLISH:
        return {}
    return json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))


@functools.cache
def catalogue(locale: str) -> Catalogue:
    entries = read_locale_file(locale) if locale in LOCALES else {}
    exact = {key: text for key, text in entries.items() if not has_slots(key)}
    templates = tuple((key, _pattern(key), text) for key, text in entries.items() if has_slots(key))
    return Catalogue(locale, exact, templates)


def translate(text: str, locale: str = ENGLISH) -> str:
    """`text` in `locale`, or as it is when there is no translation (English, or a text not yet translated)."""
    return catalogue(locale).translate(text) if locale != ENGLISH else text


def fill(key: str, locale: str = ENGLISH, **values: str) -> str:
    """The template `key` ("{field}: {problem}") in `locale`, its slots filled with `values`."""
    return catalogue(locale).fill(key, **values)


def locale_of(accept_language: str | None) -> str:
    """The language gradio's page picks for a browser, from its Accept-Language: its first language when the
    studio has it (zh-CN, zh-TW), English for any other."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip()
    return next((locale for locale in LOCALES if first.lower() == locale.lower()), ENGLISH)
