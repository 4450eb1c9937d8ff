"""Load the local instruct expander: a folder the user names, or the registry's Qwen2.5-Instruct fetched on
first use (with the hub's download progress on the console) into the models folder."""

from __future__ import annotations

from pathlib import Path

from studio.expansion.protocol import ExpansionError

INSTRUCT_USE = (
    "Local (instruct) expansion and translation to English need the model '{model}', and {how}; or choose "
    "another expansion and set Translate to off"
)


def load_instruct_expander(instruct_model: str, models_dir: Path, offline: bool):
    from studio import registry
    from studio.expansion.instruct import InstructExpander
    from studio.expansion.local_model import load_causal_lm, resolve_model_folder

    folder = resolve_model_folder(instruct_model, models_dir, offline, registry.INSTRUCT_LM, INSTRUCT_USE)
    model, tokenizer = load_causal_lm(folder)
    if not getattr(tokenizer, "chat_template", None):
        raise ExpansionError(
            f"the model in {folder} has no chat template, so it is not an instruct model; point the instruct "
            "model setting at one (e.g. Qwen2.5-0.5B-Instruct)"
        )
    return InstructExpander(model, tokenizer)
