"""How many CLIP tokens a prompt costs, counted as the text encoders get them, for the counter under the prompt.

SDXL's two text encoders read 77 positions: a start token, 75 prompt tokens and an end token. A longer prompt
is encoded 75 tokens at a time (studio.conditioning, through compel), so a phrase cut at a chunk boundary is
split between two encodings. Emphasis syntax is not text: `(red:1.3)` costs the tokens of "red" alone, as
compel tokenizes each weighted fragment (studio.prompt_weights) and joins them. Both encoders share CLIP's
vocabulary and differ only in padding, so their counts agree; each is counted with its own tokenizer anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from studio.conditioning import CLIP_CHUNK_TOKENS
from studio.prompt_weights import weighted_fragments

ENCODER_NAMES = ("CLIP ViT-L", "OpenCLIP ViT-bigG")


@dataclass(frozen=True)
class TokenCount:
    encoder: str
    tokens: int

    @property
    def chunks(self) -> tuple[int, ...]:
        """Tokens in each 75-token chunk, e.g. (75, 12); one empty chunk for an empty prompt."""
        count = max(1, math.ceil(self.tokens / CLIP_CHUNK_TOKENS))
        return tuple(min(CLIP_CHUNK_TOKENS, self.tokens - index * CLIP_CHUNK_TOKENS) for index in range(count))


def encoded_token_ids(tokenizer, prompt: str) -> list[int]:
    """The prompt's token ids as the text encoder receives them, without start, end or padding tokens."""
    ids: list[int] = []
    for text, _weight in weighted_fragments(prompt):
        if text:
            ids += tokenizer(text, add_special_tokens=False, verbose=False).input_ids  # no >77 warning: chunks
    return ids


class TokenCounter:
    """Counts with SDXL's two CLIP tokenizers, built offline once (studio.clip_tokenizer)."""

    def __init__(self, tokenizers=None):
        if tokenizers is None:
            from studio.clip_tokenizer import load_clip_tokenizers

            tokenizers = load_clip_tokenizers()
        self.tokenizers = tuple(tokenizers)

    def count(self, prompt: str) -> tuple[TokenCount, ...]:
        return tuple(
            TokenCount(name, len(encoded_token_ids(tokenizer, prompt or "")))
            for name, tokenizer in zip(ENCODER_NAMES, self.tokenizers)
        )

    def summary(self, prompt: str) -> str:
        """One line for the page, each chunk's fill out of 75: `CLIP ViT-L 87 tokens: 75/75 + 12/75 · ...`."""
        return " · ".join(
            f"{count.encoder} {count.tokens} token{'' if count.tokens == 1 else 's'}: "
            + " + ".join(f"{chunk}/{CLIP_CHUNK_TOKENS}" for chunk in count.chunks)
            for count in self.count(prompt)
        )
