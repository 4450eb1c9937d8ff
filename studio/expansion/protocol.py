"""The one protocol every prompt expander follows, its error type, and how an expansion joins the prompt."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class ExpansionError(RuntimeError):
    """Expansion failed; the message is for the user as it is (it names the setting to change, never a key)."""


@runtime_checkable
class PromptExpander(Protocol):
    def expand(self, prompt: str, seed: int) -> str:
        """Only the text to add to `prompt` ("" for an empty prompt); one seed always gives one expansion."""
        ...


class NoExpansion:
    """Mode `none`: adds nothing."""

    def expand(self, prompt: str, seed: int) -> str:
        return ""


def compose_positive_prompt(prompt: str, expansion: str) -> str:
    """The positive prompt the model sees: the user's prompt, then the expansion as its own comma-separated part.

    Either may be empty; the user's text is kept as typed (only trailing commas/spaces are trimmed at the join).
    """
    head = prompt.strip().rstrip(",").rstrip()
    tail = expansion.strip().lstrip(",").strip()
    if not tail:
        return prompt.strip()
    if not head:
        return tail
    return f"{head}, {tail}"
