"""The local instruct expander: a small chat model (Qwen2.5-Instruct) run with transformers, on this machine.

It reads a system prompt shipped with the project and the user's prompt through the model's own chat template,
and answers in English. Two jobs, each with its own system prompt file:
- `expand`: translate (if need be) and rewrite the idea as one detailed prompt, with seeded sampling, so one
  seed always gives one expansion;
- `translate`: a faithful English translation, decoded greedily: the same text always gets the same
  translation, whatever the seed, so every image of a batch shares it.
Only tokens that decode to printable ASCII may be sampled (plus the end of the turn): CLIP reads English, and a
small multilingual model otherwise drifts back into the user's language now and then.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import torch

from studio.expansion.cache import LRUCache
from studio.expansion.llm import clean_reply
from studio.expansion.protocol import ExpansionError

EXPAND_SYSTEM_FILE = Path(__file__).with_name("instruct_expand.txt")
TRANSLATE_SYSTEM_FILE = Path(__file__).with_name("instruct_translate.txt")
# Qwen2.5-Instruct's recommended sampling (its generation_config.json), fixed here so a model folder's own
# file cannot change what a seed makes.
TEMPERATURE = 0.7
TOP_P = 0.8
TOP_K = 20
REPETITION_PENALTY = 1.05
EXPANSION_TOKENS = 120  # the system prompt asks for under 60 words
MIN_TRANSLATION_TOKENS, MAX_TRANSLATION_TOKENS = 32, 300


@cache
def system_prompt(path: Path) -> str:
    return " ".join(path.read_text(encoding="utf-8").split())


class InstructExpander:
    def __init__(self, model, tokenizer, *, cache_entries: int = 256):
        self.model = model
        self.tokenizer = tokenizer
        self.cache = LRUCache(cache_entries)
        self.max_positions = getattr(model.config, "max_position_embeddings", 4096)
        self.stop_ids = _stop_ids(model, tokenizer)
        self._allowed: torch.Tensor | None = None  # built on first use: decoding a 150k vocabulary takes a moment
        self._lock = threading.Lock()  # one model, one generation at a time

    def expand(self, prompt: str, seed: int) -> str:
        """The text to add to `prompt`: its English rewrite (see the module's note); "" for an empty prompt."""
        return self._answer(system_prompt(EXPAND_SYSTEM_FILE), prompt, seed, EXPANSION_TOKENS)

    def translate(self, prompt: str) -> str:
        """`prompt` in English, the same every time."""
        budget = len(self.tokenizer(prompt, add_special_tokens=False).input_ids) * 2 + 16
        budget = min(max(budget, MIN_TRANSLATION_TOKENS), MAX_TRANSLATION_TOKENS)
        return self._answer(system_prompt(TRANSLATE_SYSTEM_FILE), prompt, None, budget)

    def chat_ids(self, system: str, user: str) -> list[int]:
        """The token ids the model reads: the conversation in the model's chat template, ending where the
        assistant's answer starts."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _answer(self, system: str, prompt: str, seed: int | None, max_new: int) -> str:
        prompt = prompt.strip()
        if not prompt:
            return ""
        key = (system, prompt, seed)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        context = self.chat_ids(system, prompt)
        max_new = min(max_new, self.max_positions - len(context))
        if max_new < 1:
            raise ExpansionError("the prompt is too long for the local instruct model; shorten it")
        with self._lock, torch.inference_mode():
            ids = self._generate(context, seed, max_new)
        answer = clean_reply(self.tokenizer.decode(ids, skip_special_tokens=True))
        if not answer:
            raise ExpansionError("the local instruct model gave an empty answer; try another seed")
        self.cache.put(key, answer)
        return answer

    def _generate(self, context: list[int], seed: int | None, max_new: int) -> list[int]:
        """Sampled with `seed`, or greedy when it is None; stops at the end of the assistant's turn."""
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        allowed = self.allowed_tokens()
        seen = torch.zeros(allowed.shape[0], dtype=torch.bool)
        seen[torch.tensor(context)] = True
        new: list[int] = []
        past = None
        step_input = torch.tensor([context])
        for _ in range(max_new):
            out = self.model(input_ids=step_input, past_key_values=past, use_cache=True)
            past = out.past_key_values
            scores = out.logits[0, -1, : allowed.shape[0]].float()
            scores = torch.where(seen, torch.where(scores > 0, scores / REPETITION_PENALTY, scores * REPETITION_PENALTY), scores)
            scores = scores.masked_fill(~allowed, -torch.inf)
            token = int(scores.argmax()) if generator is None else sample_top_k_top_p(scores, generator)
            if token in self.stop_ids:
                break
            new.append(token)
            seen[token] = True
            step_input = torch.tensor([[token]])
        return new

    def allowed_tokens(self) -> torch.Tensor:
        """True for each token id the answer may use: printable ASCII text and the end-of-turn tokens."""
        if self._allowed is None:
            size = min(len(self.tokenizer), self.model.get_output_embeddings().weight.shape[0])
            pieces = self.tokenizer.batch_decode([[index] for index in range(size)])
            special = set(self.tokenizer.all_special_ids)
            self._allowed = torch.tensor(
                [index in self.stop_ids or (index not in special and _printable_ascii(piece)) for index, piece in enumerate(pieces)]
            )
        return self._allowed


def sample_top_k_top_p(scores: torch.Tensor, generator: torch.Generator) -> int:
    """One token from `scores / TEMPERATURE`, among the TOP_K best whose probabilities make up TOP_P."""
    top_scores, top_ids = (scores / TEMPERATURE).topk(min(TOP_K, int(torch.isfinite(scores).sum())))
    probabilities = torch.softmax(top_scores, dim=-1)
    keep = probabilities.cumsum(-1) - probabilities < TOP_P  # always keeps the first
    probabilities = probabilities * keep
    choice = torch.multinomial(probabilities / probabilities.sum(), 1, generator=generator)
    return int(top_ids[choice[0]])


def _printable_ascii(text: str) -> bool:
    return bool(text) and all(" " <= char <= "~" for char in text)


def _stop_ids(model, tokenizer) -> frozenset[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
    for token in ("<|im_end|>", "<|endoftext|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return frozenset(i for i in ids if isinstance(i, int))
