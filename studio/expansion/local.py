"""The local expander: a GPT-2-class language model fine-tuned on image prompts, sampled with one seed.

It continues "<prompt>," with seeded top-k sampling, steered towards the project's descriptive words and
away from the prompt's own words, and stops where the prompt plus expansion fill one 75-token CLIP chunk.
"""

from __future__ import annotations

import re
import threading

import torch

from studio.expansion.protocol import compose_positive_prompt
from studio.expansion.steering import AdditiveBias, BanSequences, PresencePenalty, ban_sequences, first_token_ids
from studio.expansion.words import positive_words, prompt_words, words_of

CLIP_CHUNK = 75  # CLIP's 77 positions less the start and end tokens
MIN_ROOM = 3  # CLIP tokens the prompt must leave free for an expansion to be worth making
UNWANTED = re.compile(r"[()\[\]{}<>:|\\\"\ufffd]")  # weighting syntax and broken bytes
SPACES = re.compile(r"\s+")


class LocalExpander:
    def __init__(
        self,
        model,
        tokenizer,
        clip_tokenizer,
        *,
        bias: float = 2.0,
        top_k: int = 50,
        temperature: float = 0.9,
        presence_penalty: float = 1.0,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.clip_tokenizer = clip_tokenizer
        self.top_k = top_k
        self.temperature = temperature
        self.presence_penalty = presence_penalty
        self.bias = AdditiveBias(first_token_ids(tokenizer, positive_words()), bias)
        self.eos_token_id = tokenizer.eos_token_id
        config = model.config
        self.max_positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 1024)
        self._lock = threading.Lock()  # one model, one generation at a time

    def clip_length(self, text: str) -> int:
        return len(self.clip_tokenizer(text, add_special_tokens=False).input_ids)

    def expand(self, prompt: str, seed: int) -> str:
        prompt = prompt.strip()
        if not prompt or self.clip_length(prompt) > CLIP_CHUNK - MIN_ROOM:
            return ""
        banned = prompt_words(prompt)
        with self._lock, torch.inference_mode():
            text = self._sample(prompt, banned, seed)
        return self._fit(prompt, clean_expansion(text, banned))

    def _sample(self, prompt: str, banned: frozenset[str], seed: int) -> str:
        context = self.tokenizer.encode(prompt.rstrip(", ") + ",", add_special_tokens=False)
        max_new = CLIP_CHUNK + 5  # GPT-2 BPE is no finer than CLIP's on prompt text
        context = context[-(self.max_positions - max_new) :]
        processors = [
            self.bias,
            PresencePenalty(len(context), self.presence_penalty),
            BanSequences(ban_sequences(self.tokenizer, banned)),
        ]
        generator = torch.Generator().manual_seed(seed)
        new: list[int] = []
        past = None
        step_input = torch.tensor([context])
        for _ in range(max_new):
            out = self.model(input_ids=step_input, past_key_values=past, use_cache=True)
            past = out.past_key_values
            scores = out.logits[:, -1, :].float() / max(self.temperature, 1e-5)
            ids = torch.tensor([context + new])
            for processor in processors:
                scores = processor(ids, scores)
            top_scores, top_ids = scores.topk(min(self.top_k, scores.shape[-1]))
            choice = torch.multinomial(torch.softmax(top_scores, dim=-1), 1, generator=generator)
            token = int(top_ids[0, choice[0, 0]])
            piece = self.tokenizer.decode([token])
            if token == self.eos_token_id or "\n" in piece:
                break
            candidate = self.tokenizer.decode(new + [token])
            if self.clip_length(compose_positive_prompt(prompt, candidate)) > CLIP_CHUNK:
                text = self.tokenizer.decode(new)
                # The token that did not fit may have been the rest of a word: drop that word's start.
                return text if piece[:1].isspace() or not piece[:1].isalnum() else drop_last_word(text)
            new.append(token)
            step_input = torch.tensor([[token]])
        return self.tokenizer.decode(new)

    def _fit(self, prompt: str, expansion: str) -> str:
        """Guarantee the chunk limit after cleaning (cleaning only removes text, so this rarely trims)."""
        while expansion and self.clip_length(compose_positive_prompt(prompt, expansion)) > CLIP_CHUNK:
            expansion = clean_expansion(drop_last_word(expansion), frozenset())
        return expansion


def drop_last_word(text: str) -> str:
    return re.sub(r"\S*$", "", text.rstrip()).rstrip() if " " in text.strip() else ""


def clean_expansion(text: str, banned: frozenset[str]) -> str:
    """Comma-separated parts without weighting syntax, banned words, repeats or stray punctuation."""
    parts = []
    seen = set()
    for part in UNWANTED.sub(" ", text).split(","):
        kept = [chunk for chunk in part.split() if not set(words_of(chunk)) & banned]
        phrase = SPACES.sub(" ", " ".join(kept)).strip(" .;!?-_'*#~`")
        if phrase and words_of(phrase) and phrase.lower() not in seen:
            seen.add(phrase.lower())
            parts.append(phrase)
    return ", ".join(parts)
