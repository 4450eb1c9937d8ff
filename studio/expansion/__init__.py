"""Prompt expanders behind one protocol: a seeded local GPT-2 and any OpenAI-compatible LLM endpoint.

Importing this package loads neither torch nor httpx; `build_expander` imports what the chosen mode needs.
"""

from studio.expansion.factory import build_expander
from studio.expansion.protocol import ExpansionError, NoExpansion, PromptExpander, compose_positive_prompt
from studio.expansion.settings import EXPANSION_MODES, ExpansionSettings, expansion_limit_of

__all__ = [
    "EXPANSION_MODES",
    "ExpansionError",
    "ExpansionSettings",
    "NoExpansion",
    "PromptExpander",
    "build_expander",
    "compose_positive_prompt",
    "expansion_limit_of",
]
