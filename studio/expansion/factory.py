"""Build the expander the settings ask for."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from studio.expansion.protocol import NoExpansion, PromptExpander
from studio.expansion.settings import ExpansionSettings


def build_expander(settings: ExpansionSettings, models_dir: Path, offline: bool) -> PromptExpander:
    """An expander for `settings.mode`; local mode loads its model now (raises `ExpansionError` if it cannot).

    Build one per settings value and keep it: the local model stays loaded and the LLM cache lives in it.
    """
    if settings.mode == "none":
        return NoExpansion()
    if settings.mode == "llm":
        from studio.expansion.llm import LLMExpander

        return LLMExpander(settings)
    if settings.mode == "instruct":
        from studio.expansion.instruct_loader import load_instruct_expander

        return load_instruct_expander(settings.instruct_model, Path(models_dir), offline)
    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.expansion.local import LocalExpander
    from studio.expansion.local_model import load_causal_lm, resolve_model_folder

    folder = resolve_model_folder(settings.local_model, Path(models_dir), offline)
    model, tokenizer = load_causal_lm(folder)
    return LocalExpander(model, tokenizer, load_clip_tokenizers()[0])


class ExpanderCache:
    """One expander per mode, built on first use from the server's settings and kept (the local model stays
    loaded, the LLM cache lives on). The endpoint is the server's setting, never a request's: a request only
    picks the mode, so no request can make the server call an address of its choosing."""

    def __init__(self, settings: ExpansionSettings, models_dir: Path, offline: bool):
        self.settings = settings
        self._models_dir = Path(models_dir)
        self._offline = offline
        self._expanders: dict[str, PromptExpander] = {}
        self._lock = threading.Lock()

    def get(self, mode: str) -> PromptExpander:
        with self._lock:
            if mode not in self._expanders:
                self._expanders[mode] = build_expander(replace(self.settings, mode=mode), self._models_dir, self._offline)
            return self._expanders[mode]
