"""Prompt text -> SDXL conditioning, with A1111 emphasis and prompts longer than one CLIP chunk.

Plain prompts that fit in one 77-token chunk go through diffusers' own `encode_prompt`, exactly as a bare
pipeline call would. Prompts with emphasis (`(word:1.3)`, `(word)`, `[word]`) or past 75 tokens go through
compel, which weights tokens for both SDXL text encoders and encodes long prompts chunk by chunk instead of
cutting them. The emphasis syntax is only rewritten into compel's own (`(word)1.3`); compel parses it.
"""

from __future__ import annotations

import re

import torch

CLIP_CHUNK_TOKENS = 75  # 77 minus the start and end tokens
EMPHASIS_UP = 1.1  # A1111: each ( ) multiplies attention by 1.1, each [ ] divides by it
_EXPLICIT_WEIGHT = re.compile(r"^(.*):\s*(-?\d+(?:\.\d+)?)\s*$", re.DOTALL)


def has_emphasis(text: str) -> bool:
    return any(char in text for char in "()[]")


def to_compel_syntax(text: str) -> str:
    """Rewrite A1111 emphasis into compel's syntax: `(a:1.3)` -> `(a)1.3`, `(a)` -> `(a)1.1`,
    `[a]` -> `(a)0.9091`. Escaped `\\(` and unmatched brackets stay literal text."""
    out: list[str] = []
    open_groups: list[tuple[str, int]] = []  # (bracket, index in out where its content starts)
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index : index + 2])
            index += 2
            continue
        if char in "([":
            open_groups.append((char, len(out) + 1))
            out.append("(")
        elif char == ")" and open_groups and open_groups[-1][0] == "(":
            start = open_groups.pop()[1]
            content = "".join(out[start:])
            explicit = _EXPLICIT_WEIGHT.match(content)
            if explicit:
                out[start:] = [explicit.group(1)]
                out.append(f"){float(explicit.group(2)):g}")
            else:
                out.append(f"){EMPHASIS_UP:g}")
        elif char == "]" and open_groups and open_groups[-1][0] == "[":
            open_groups.pop()
            out.append(f"){1 / EMPHASIS_UP:.4f}")
        elif char in "()[]":
            out.append("\\" + char)
        else:
            out.append(char)
        index += 1
    for _, start in reversed(open_groups):  # an unclosed bracket is text, not emphasis
        out[start - 1] = "\\("
    return "".join(out)


def token_count(pipeline, text: str) -> int:
    return len(pipeline.tokenizer(text, add_special_tokens=False).input_ids)


def needs_compel(pipeline, positive: str, negative: str) -> bool:
    return any(has_emphasis(text) or token_count(pipeline, text) > CLIP_CHUNK_TOKENS for text in (positive, negative))


@torch.inference_mode()
def encode_prompts(pipeline, positive: str, negative: str, cfg_scale: float) -> dict:
    """The pipeline's prompt-embedding arguments for one positive/negative pair."""
    guided = cfg_scale > 1
    if not needs_compel(pipeline, positive, negative):
        embeds, negative_embeds, pooled, negative_pooled = pipeline.encode_prompt(
            prompt=positive,
            negative_prompt=negative or None,  # None: SDXL's all-zero negative, as a bare pipeline call gives
            device=pipeline._execution_device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=guided,
        )
    else:
        embeds, negative_embeds, pooled, negative_pooled = _encode_with_compel(pipeline, positive, negative)
    return dict(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative_embeds,
        pooled_prompt_embeds=pooled,
        negative_pooled_prompt_embeds=negative_pooled,
    )


def _encode_with_compel(pipeline, positive: str, negative: str):
    from compel import CompelForSDXL

    compel = CompelForSDXL(pipeline, device=str(pipeline._execution_device))
    conditioning = compel(to_compel_syntax(positive), negative_prompt=to_compel_syntax(negative))
    negative_embeds, negative_pooled = conditioning.negative_embeds, conditioning.negative_pooled_embeds
    if not negative and pipeline.config.force_zeros_for_empty_prompt:
        # As diffusers does for SDXL: an empty negative prompt is all zeros, not the encoding of "".
        negative_embeds, negative_pooled = torch.zeros_like(negative_embeds), torch.zeros_like(negative_pooled)
    return conditioning.embeds, negative_embeds, conditioning.pooled_embeds, negative_pooled
