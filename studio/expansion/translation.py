"""Translation before encoding: a prompt CLIP cannot read becomes English, by the local instruct model.

The request's `translate` decides: "off" never, "auto" when the prompt holds a word in a non-Latin script
(studio.expansion.language, no model), "always" for any prompt (e.g. French, which "auto" cannot tell from
English). The translation is decoded greedily, so a text always gets the same English and each image of a
batch shares it; the resolved request records the text as typed and its translation.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.expansion.language import needs_translation
from studio.expansion.protocol import ExpansionError


@dataclass(frozen=True)
class TranslatedPrompt:
    prompt: str  # what the next stage reads: the English translation, or the prompt unchanged
    original: str = ""  # the prompt as typed, when it was translated
    english: str = ""  # its translation, when it was translated


def should_translate(mode: str, prompt: str) -> bool:
    if mode == "off" or not prompt.strip():
        return False
    return mode == "always" or needs_translation(prompt)


def translate_prompt(expanders, mode: str, prompt: str) -> TranslatedPrompt:
    """`prompt` in English when `mode` asks for it (`expanders`: the studio's ExpanderCache). If the model
    cannot be had, the error names the Translate setting, which is what the user can change."""
    if not should_translate(mode, prompt):
        return TranslatedPrompt(prompt)
    try:
        english = expanders.get("instruct").translate(prompt)
    except ExpansionError as error:
        raise ExpansionError(f"translate: {error}") from error
    return TranslatedPrompt(english, prompt.strip(), english)
