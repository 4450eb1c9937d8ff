"""Logits processors that steer the local expander (the `transformers.LogitsProcessor` call shape).

- `AdditiveBias`: a small bonus for the first token of each descriptive word of the project's list.
- `BanSequences`: forbids the prompt's own words, in each spelling the tokenizer gives them.
- `PresencePenalty`: discourages repeating a token the expansion already used.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def word_variants(word: str) -> tuple[str, ...]:
    """The spellings a word takes in generated text: after a space or not, lower, Title and UPPER case."""
    cases = dict.fromkeys((word, word.lower(), word.capitalize(), word.upper()))
    return tuple(prefix + case for case in cases for prefix in (" ", ""))


def first_token_ids(tokenizer, phrases: Iterable[str]) -> list[int]:
    """The first token of " phrase" for each phrase (the form a word takes after ", ")."""
    ids = []
    for phrase in phrases:
        encoded = tokenizer.encode(" " + phrase, add_special_tokens=False)
        if encoded:
            ids.append(encoded[0])
    return sorted(set(ids))


def ban_sequences(tokenizer, words: Iterable[str]) -> list[tuple[int, ...]]:
    """Token sequences that spell each word, in every variant of `word_variants`."""
    sequences = set()
    for word in words:
        for variant in word_variants(word):
            encoded = tuple(tokenizer.encode(variant, add_special_tokens=False))
            if encoded:
                sequences.add(encoded)
    return sorted(sequences)


class AdditiveBias:
    def __init__(self, token_ids: Iterable[int], bias: float):
        self.token_ids = torch.tensor(sorted(set(token_ids)), dtype=torch.long)
        self.bias = float(bias)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if len(self.token_ids) and self.bias:
            scores[:, self.token_ids] += self.bias
        return scores


class BanSequences:
    """Sets to -inf the token that would complete any banned sequence, given the tokens so far.

    Single-token sequences are banned outright; a longer one only where the context ends with its prefix.
    """

    def __init__(self, sequences: Iterable[tuple[int, ...]]):
        sequences = list(sequences)
        self.single = torch.tensor(sorted({s[0] for s in sequences if len(s) == 1}), dtype=torch.long)
        self.longer = [s for s in sequences if len(s) > 1]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if len(self.single):
            scores[:, self.single] = -float("inf")
        for row, context in enumerate(input_ids.tolist()):
            for sequence in self.longer:
                prefix = sequence[:-1]
                if len(context) >= len(prefix) and tuple(context[len(context) - len(prefix) :]) == prefix:
                    scores[row, sequence[-1]] = -float("inf")
        return scores


class PresencePenalty:
    """Subtracts `penalty` once from each token already generated (the context from position `start` on)."""

    def __init__(self, start: int, penalty: float):
        self.start = start
        self.penalty = float(penalty)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.penalty:
            return scores
        for row in range(input_ids.shape[0]):
            used = input_ids[row, self.start :].unique()
            if used.numel():
                scores[row, used] -= self.penalty
        return scores
