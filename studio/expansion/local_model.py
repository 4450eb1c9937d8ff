"""Where the local expansion language model comes from: a local folder, or the hub into the models folder.

Safetensors only: a folder holding nothing but pickled weights (`pytorch_model.bin`) is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

from studio import registry
from studio.expansion.protocol import ExpansionError

log = logging.getLogger(__name__)

PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
LOCAL_USE = "Local prompt expansion needs the model '{model}', and {how}, or choose the expansion None or LLM"


def resolve_model_folder(
    local_model: str, models_dir: Path, offline: bool, hub: registry.HubModel | None = None, use: str = LOCAL_USE
) -> Path:
    """The folder to load: `local_model` when set, else the registry's model (`hub`, by default the GPT-2
    expander) fetched into `models_dir`; `use` names what needs it in the error a user reads."""
    if local_model:
        folder = Path(local_model).expanduser()
        if not folder.is_dir():
            raise ExpansionError(f"local expansion model '{local_model}' is not a folder; point the setting at one")
        return folder
    return download_default_model(Path(models_dir), offline, hub, use)


def download_default_model(
    models_dir: Path, offline: bool, hub: registry.HubModel | None = None, use: str = LOCAL_USE
) -> Path:
    from huggingface_hub import snapshot_download

    hub = hub or registry.PROMPT_EXPANSION_LM
    try:
        folder = snapshot_download(
            hub.repo_id,
            revision=hub.revision,
            cache_dir=Path(models_dir) / "hub",
            allow_patterns=list(hub.allow_patterns),
            local_files_only=offline,
        )
    except Exception as error:  # every hub failure means the same thing to the user
        how = (
            "the studio is offline and it has not been downloaded yet: start the studio once without --offline"
            if offline
            else "it could not be downloaded: check the network connection"
        )
        log.warning("the model %s could not be had from %s: %s", hub.repo_id, models_dir, error)
        raise ExpansionError(f"{use.format(model=hub.repo_id, how=how)}.") from error
    return Path(folder)


def load_causal_lm(folder: Path):
    """(model, tokenizer) from a folder in the Hugging Face layout, on the CPU in float32, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    if not any(folder.glob("*.safetensors")):
        pickled = sorted(p.name for pattern in PICKLED_WEIGHTS for p in folder.glob(pattern))
        if pickled:
            raise ExpansionError(
                f"the expansion model in {folder} has only pickled weights ({', '.join(pickled)}), which can run "
                "code when loaded; convert it to model.safetensors"
            )
        raise ExpansionError(f"no expansion model weights (*.safetensors) in {folder}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, local_files_only=True, dtype=torch.float32
        )
    except Exception as error:
        raise ExpansionError(
            f"could not load the expansion model in {folder} ({type(error).__name__}: {error})"
        ) from error
    return model.eval(), tokenizer
