"""The live CLIP token counter under the prompt: tokens per 75-token chunk for both SDXL text encoders.

It counts the text Generate will encode (the Expanded prompt when it holds text, else the prompt), as
studio.token_count counts it, on every change: a cheap, unqueued event (a few milliseconds of tokenizing).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.token_count import TokenCounter
from studio.ui.guard import guarded
from studio.ui.i18n import say


def encoded_text(prompt: Any, expanded_prompt: Any) -> str:
    expanded = expanded_prompt.strip() if isinstance(expanded_prompt, str) else ""
    return expanded or (prompt if isinstance(prompt, str) else "")


def build_token_counter(defaults: dict[str, Any], extras: dict[str, Any]) -> None:
    """The counter's line, under the prompt (call where it should appear, inside the layout)."""
    counter = TokenCounter()
    extras["token_counter"] = counter
    text = encoded_text(defaults.get("prompt"), defaults.get("expanded_prompt"))
    extras["token_count"] = gr.Markdown(
        counter.summary(text), elem_id="studio-token-count", elem_classes=["studio-note"], padding=False
    )


def wire_token_counter(settings: dict[str, Any], extras: dict[str, Any]) -> None:
    counter: TokenCounter = extras["token_counter"]

    def count(prompt: Any, expanded_prompt: Any) -> str:
        return say(counter.summary(encoded_text(prompt, expanded_prompt)))  # in the page's language

    boxes = [settings["prompt"], settings["expanded_prompt"]]
    for box in boxes:
        box.change(
            guarded("Token count", count),
            inputs=boxes,
            outputs=extras["token_count"],
            queue=False,
            trigger_mode="always_last",  # typing fast: the last text is counted, never a backlog
            show_progress="hidden",
            api_visibility="private",
        )
