"""How many CLIP tokens a prompt costs, counted as the text encoders get them, for the counter under the prompt.

SDXL's two text encoders read 77 positions: a start token, up to 75 prompt tokens and an end token. A longer
prompt is encoded in chunks (studio.conditioning, through compel), and compel ends a chunk at the last
sentence or phrase end that fits, not always at 75 tokens, so the chunks are counted by compel's own
chunking. Emphasis syntax is not text: `(red:1.3)` costs the tokens of "red" alone, as compel tokenizes each
weighted fragment (studio.prompt_weights) and joins them. Both encoders share CLIP's vocabulary and differ
only in padding, so their counts agree; each is counted with its own tokenizer anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.conditioning import CLIP_CHUNK_TOKENS
from studio.prompt_weights import weighted_fragments

ENCODER_NAMES = ("CLIP ViT-L", "OpenCLIP ViT-bigG")
LONG_TEXT_WARNING = "sequence-length-is-longer-than-the-specified-maximum"


@dataclass(frozen=True)
class TokenCount:
    encoder: str
    chunks: tuple[int, ...]  # prompt tokens in each chunk the encoder reads, e.g. (71, 16); (0,) when empty

    @property
    def tokens(self) -> int:
        return sum(self.chunks)


class TokenCounter:
    """Counts with SDXL's two CLIP tokenizers (studio.clip_tokenizer, built offline once), chunked by compel
    as `studio.conditioning` configures it (no truncation, split at sentence ends)."""

    def __init__(self, tokenizers=None):
        from compel.embeddings_provider import EmbeddingsProvider, SplitLongTextMode

        if tokenizers is None:
            from studio.clip_tokenizer import load_clip_tokenizers

            tokenizers = load_clip_tokenizers()
        for tokenizer in tokenizers:
            # transformers warns once per tokenizer that a text is past 77 tokens; here that is expected (long
            # prompts are chunked, not cut). Marked as said rather than muting logging per call (7 ms a call).
            getattr(tokenizer, "deprecation_warnings", {})[LONG_TEXT_WARNING] = True
        self.providers = tuple(
            EmbeddingsProvider(
                tokenizer, None, truncate=False, device="cpu", split_long_text_mode=SplitLongTextMode.SENTENCES
            )
            for tokenizer in tokenizers
        )

    def count(self, prompt: str) -> tuple[TokenCount, ...]:
        fragments = weighted_fragments(prompt or "")
        texts, weights = [text for text, _ in fragments], [weight for _, weight in fragments]
        return tuple(
            TokenCount(name, chunk_lengths(provider, texts, weights))
            for name, provider in zip(ENCODER_NAMES, self.providers)
        )

    def summary(self, prompt: str) -> str:
        """One line for the page, each chunk's fill out of 75: `CLIP ViT-L 87 tokens: 71/75 + 16/75 · ...`."""
        return " · ".join(
            f"{count.encoder} {count.tokens} token{'' if count.tokens == 1 else 's'}: "
            + " + ".join(f"{chunk}/{CLIP_CHUNK_TOKENS}" for chunk in count.chunks)
            for count in self.count(prompt)
        )


def chunk_lengths(provider, texts: list[str], weights: list[float]) -> tuple[int, ...]:
    """Prompt tokens per chunk of what compel hands the encoder: each 77-position chunk holds start, the
    prompt's tokens, end, then padding."""
    ids, _, _ = provider.get_token_ids_and_expand_weights(texts, weights, device="cpu")
    width = provider.max_token_count
    eos = provider.tokenizer.eos_token_id
    chunks = ids.view(-1, width).tolist()
    return tuple(chunk.index(eos, 1) - 1 for chunk in chunks)
