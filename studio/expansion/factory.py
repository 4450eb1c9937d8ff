"""Build the expander the settings ask for."""

from __future__ import annotations

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
    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.expansion.local import LocalExpander
    from studio.expansion.local_model import load_causal_lm, resolve_model_folder

    folder = resolve_model_folder(settings.local_model, Path(models_dir), offline)
    model, tokenizer = load_causal_lm(folder)
    return LocalExpander(model, tokenizer, load_clip_tokenizers()[0])
