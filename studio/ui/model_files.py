"""The VAE, refiner and embedding widgets' values (issue 15B), by name. No gradio here.

The VAE dropdown shows `OWN_VAE` for the request's '' (the checkpoint's own VAE), the refiner dropdown
`NO_REFINER_CHOICE` for '' (none); the embeddings dropdown is no setting of its own: choosing one adds
`embedding:name` to the prompt, where embeddings are named.
"""

from __future__ import annotations

from typing import Any

from studio.embeddings import embedding_names
from studio.limits import InvalidRequest
from studio.refiner import NO_REFINER
from studio.vaes import NO_VAE

OWN_VAE = "Checkpoint's own"  # never a library name: those have no apostrophe
NO_REFINER_CHOICE = "No refiner"


def vae_from_widget(value: Any) -> str:
    if value in (None, "", OWN_VAE):
        return NO_VAE
    if not isinstance(value, str):
        raise InvalidRequest("vae", "must be a VAE name")
    return value


def vae_widget_value(vae: str) -> str:
    return vae or OWN_VAE


def vae_choices(names: tuple[str, ...]) -> list[str]:
    return [OWN_VAE, *names]


def kept_vae(value: Any, names: tuple[str, ...]) -> str:
    """The VAE dropdown's value after its folder is read again: kept if still there, else the checkpoint's own."""
    return value if value in names else OWN_VAE


def with_embedding(prompt: str | None, name: str | None) -> str:
    """The prompt with `embedding:name` added at its end (once: a prompt naming it already is left as it is)."""
    prompt = prompt or ""
    if not name or name in embedding_names(prompt):
        return prompt
    separator = ", " if prompt.strip() and not prompt.rstrip().endswith(",") else (" " if prompt.strip() else "")
    return f"{prompt.rstrip()}{separator}embedding:{name}"


def refiner_from_widget(value: Any) -> str:
    if value in (None, "", NO_REFINER_CHOICE):
        return NO_REFINER
    if not isinstance(value, str):
        raise InvalidRequest("refiner", "must be a checkpoint name")
    return value


def refiner_widget_value(refiner: str) -> str:
    return refiner or NO_REFINER_CHOICE


def refiner_choices(names: tuple[str, ...]) -> list[str]:
    return [NO_REFINER_CHOICE, *names]


def kept_refiner(value: Any, names: tuple[str, ...]) -> str:
    return value if value in names else NO_REFINER_CHOICE


def drop_missing_files(values: dict[str, Any], vae_names: tuple[str, ...], checkpoints: tuple[str, ...]) -> list[str]:
    """Load parameters: a recorded VAE or refiner this studio does not have is taken out of `values` (its widget
    keeps its value) and named in the returned warnings."""
    warnings = []
    for field, names, choice_for_none, what, folder in (
        ("vae", vae_names, OWN_VAE, "VAE", "vae"),
        ("refiner", checkpoints, NO_REFINER_CHOICE, "refiner", "checkpoints"),
    ):
        value = values.get(field)
        if value is not None and value != choice_for_none and value not in names:
            warnings.append(f"The {what} '{value}' is not in <models-dir>/{folder}; the {what} was left as it is.")
            del values[field]
    return warnings
