"""Is a prompt written in a script CLIP cannot read? Told from its letters' Unicode scripts: no model, no I/O.

CLIP's tokenizer and its training captions are English: Chinese, Japanese, Korean, Cyrillic, Greek, Arabic and
other non-Latin text reaches the text encoders as byte fragments that mean nothing to them. A prompt holding a
word in such a script is translated before encoding. Latin-script languages (French, Spanish, ...) cannot be
told from English this cheaply and are left as they are; CLIP reads some of their words anyway.
"""

from __future__ import annotations

import unicodedata

# Scripts where one character is a word: a single one is reason enough to translate.
IDEOGRAPHIC_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "YI"})
# Elsewhere a word takes this many letters in a row, so a lone symbol-like letter (α, Ω, µ) is not a word.
MIN_WORD_LETTERS = 2


def letter_script(char: str) -> str | None:
    """The Unicode script of a letter as the first word of its name ("LATIN", "CJK", "CYRILLIC", ...); None for
    anything that is not a letter (digits, punctuation, emoji, weighting brackets, spaces)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if not name:
        return None
    if "LATIN" in name.split():  # also FULLWIDTH LATIN, MODIFIER LETTER SMALL LATIN ...
        return "LATIN"
    if name.startswith(("HALFWIDTH KATAKANA", "HALFWIDTH HANGUL")):
        return name.split()[1]
    return name.split()[0]


def foreign_scripts(text: str) -> tuple[str, ...]:
    """The non-Latin scripts `text` has a word in, in order of first appearance."""
    if text.isascii():  # most prompts: nothing to look up
        return ()
    found: list[str] = []
    run_script, run_length = None, 0
    for char in text:
        script = letter_script(char)
        if script is None or script == "LATIN":
            run_script, run_length = None, 0
            continue
        run_length = run_length + 1 if script == run_script else 1
        run_script = script
        is_word = script in IDEOGRAPHIC_SCRIPTS or run_length >= MIN_WORD_LETTERS
        if is_word and script not in found:
            found.append(script)
    return tuple(found)


def needs_translation(text: str) -> bool:
    """Whether `text` holds a word CLIP cannot read (see the module's note)."""
    return bool(foreign_scripts(text))
