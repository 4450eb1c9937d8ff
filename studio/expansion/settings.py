"""How prompts are expanded: the mode and the LLM endpoint, frozen, with each field's limits beside it.

The API key itself is never a field: only the *name* of the environment variable that holds it, so settings,
logs and image metadata can never carry the secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from studio.types import EXPANSION_MODES, InvalidRequest, Limit

DEFAULT_LLM_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint
DEFAULT_LLM_MODEL = "llama3.2"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def _limited(default: Any, limit: Limit, help: str) -> Any:
    return field(default=default, metadata={"limit": limit, "help": help})


@dataclass(frozen=True)
class ExpansionSettings:
    mode: str = field(
        default="none", metadata={"choices": EXPANSION_MODES, "help": "none, local language model, LLM endpoint, or local instruct model"}
    )
    # Local mode: a folder holding a GPT-2-class model (safetensors); empty means the registry's hub model.
    local_model: str = _limited("", Limit(high=1000), "local expansion model folder; empty = download the default")
    base_url: str = _limited(
        DEFAULT_LLM_URL, Limit(high=500), "OpenAI-compatible API base URL, e.g. http://127.0.0.1:11434/v1"
    )
    model: str = _limited(DEFAULT_LLM_MODEL, Limit(high=200), "model name served by the endpoint")
    api_key_env: str = _limited(
        DEFAULT_KEY_ENV, Limit(high=100), "name of the environment variable holding the API key"
    )
    temperature: float = _limited(0.7, Limit(0, 2), "LLM sampling temperature")
    timeout: float = _limited(30.0, Limit(0.1, 300), "seconds to wait for the LLM endpoint")
    max_retries: int = _limited(3, Limit(0, 8), "retries after a 429 (rate limited) answer")
    # 18: Local (instruct) mode and translation: a folder holding a chat model with a chat template
    # (safetensors); empty means the registry's Qwen2.5-Instruct.
    instruct_model: str = _limited("", Limit(high=1000), "local instruct model folder; empty = download the default")

    def __post_init__(self):
        if self.mode not in EXPANSION_MODES:
            raise InvalidRequest("expansion", f"'{self.mode}' is unknown; choose one of: {', '.join(EXPANSION_MODES)}")
        for f in fields(self):
            limit = f.metadata.get("limit")
            if limit is not None:
                limit.check(f"expansion.{f.name}", getattr(self, f.name))
        if self.mode == "llm":
            if not self.base_url.startswith(("http://", "https://")):
                raise InvalidRequest("expansion.base_url", f"'{self.base_url}' must start with http:// or https://")
            if not self.model.strip():
                raise InvalidRequest("expansion.model", "name the model the endpoint should use")
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise InvalidRequest("expansion.api_key_env", "must be an environment variable name, e.g. OPENAI_API_KEY")

    def record(self) -> dict[str, Any]:
        """What an image's metadata may say about how its prompt was expanded (never the key or its variable)."""
        if self.mode == "llm":
            return {"mode": "llm", "model": self.model, "temperature": self.temperature}
        if self.mode == "local":
            from studio.registry import PROMPT_EXPANSION_LM

            hub = f"{PROMPT_EXPANSION_LM.repo_id}@{PROMPT_EXPANSION_LM.revision}"
            return {"mode": "local", "model": self.local_model or hub}
        if self.mode == "instruct":
            from studio.registry import INSTRUCT_LM

            return {"mode": "instruct", "model": self.instruct_model or f"{INSTRUCT_LM.repo_id}@{INSTRUCT_LM.revision}"}
        return {"mode": "none"}


def expansion_limit_of(name: str) -> Limit:
    """The declared limit of an `ExpansionSettings` field, for widgets and command-line help."""
    for f in fields(ExpansionSettings):
        if f.name == name and "limit" in f.metadata:
            return f.metadata["limit"]
    raise KeyError(name)
