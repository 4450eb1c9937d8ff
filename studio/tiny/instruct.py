"""A tiny random instruct model for the local instruct expander: a 2-layer Qwen2 with a real byte-level BPE
tokenizer trained offline on a few lines of English and Chinese, and Qwen's ChatML chat template (Jinja), in
the Hugging Face layout, so it loads through the same code as the registry's Qwen2.5-Instruct."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from studio.tiny.sdxl import TINY_MARKER, TINY_SEED

# Qwen2.5-Instruct's ChatML turns; the same markers, so the prompt the tiny model reads has the real shape.
IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
TINY_INSTRUCT_VOCAB = 600
TINY_INSTRUCT_WIDTH = 32
TINY_INSTRUCT_LAYERS = 2
TRAINING_TEXT = (
    "a red cube on a table, soft morning light, oil painting, highly detailed",
    "a cat sitting on a windowsill, city at night, cinematic lighting, sharp focus",
    "portrait of an old fisherman, dramatic shadows, film grain, warm colours",
    "a lighthouse on a cliff at dusk, stormy sky, waves, watercolor illustration",
    "一只猫坐在窗台上，城市夜景，电影感灯光",
    "海边的灯塔，黄昏，暴风雨的天空，水彩插画",
    "кошка на окне, ночной город",
)


def build_tiny_instruct_tokenizer():
    """A byte-level BPE (any text encodes, as Qwen's does) with the ChatML special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_INSTRUCT_VOCAB,
        special_tokens=[END_OF_TEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        chat_template=CHATML_TEMPLATE,
        model_max_length=512,
    )


def build_tiny_instruct(seed: int = TINY_SEED):
    """(Qwen2ForCausalLM, tokenizer): random weights, deterministic for one seed."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tiny_instruct_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=TINY_INSTRUCT_WIDTH,
        intermediate_size=64,
        num_hidden_layers=TINY_INSTRUCT_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids(END_OF_TEXT),
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.convert_tokens_to_ids(END_OF_TEXT),
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config).eval(), tokenizer


def save_tiny_instruct(folder: Path, seed: int = TINY_SEED) -> Path:
    """Write the tiny instruct model in the Hugging Face layout (model.safetensors, tokenizer with its chat
    template); return the folder."""
    folder = Path(folder)
    model, tokenizer = build_tiny_instruct(seed)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / TINY_MARKER).write_text(json.dumps({"random_weights": True, "seed": seed}))
    return folder
