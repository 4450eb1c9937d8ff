"""Prompt text -> SDXL conditioning, with A1111 emphasis and prompts longer than one CLIP chunk.

Plain prompts that fit in one 77-token chunk go through diffusers' own `encode_prompt`, exactly as a bare
pipeline call would. Prompts with emphasis (`(word:1.3)`, `(word)`, `[word]`) or past 75 tokens go through
compel, which weights tokens for both SDXL text encoders and encodes long prompts chunk by chunk instead of
cutting them. The emphasis is parsed by studio.prompt_weights in linear time and handed to compel as weighted
fragments (compel's own parser takes minutes on some prompts).
"""

from __future__ import annotations

import torch

from studio.prompt_weights import has_emphasis, to_compel_syntax, weighted_fragments

CLIP_CHUNK_TOKENS = 75  # 77 minus the start and end tokens


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
    from compel.prompt_parser import Conjunction, FlattenedPrompt

    compel = CompelForSDXL(pipeline, device=str(pipeline._execution_device))
    # compel parses each text it is given with its own parser, which costs time out of proportion to the
    # text; it is handed ours instead, keyed by the compel-syntax text (which its pooled embedding still reads).
    parsed = {
        to_compel_syntax(text): Conjunction([FlattenedPrompt(list(weighted_fragments(text)))])
        for text in ("", positive, negative)
    }
    for encoder in (compel.compel_1, compel.compel_2):
        encoder.parse_prompt_string = parsed.__getitem__
    conditioning = compel(to_compel_syntax(positive), negative_prompt=to_compel_syntax(negative))
    negative_embeds, negative_pooled = conditioning.negative_embeds, conditioning.negative_pooled_embeds
    if not negative and pipeline.config.force_zeros_for_empty_prompt:
        # As diffusers does for SDXL: an empty negative prompt is all zeros, not the encoding of "".
        negative_embeds, negative_pooled = torch.zeros_like(negative_embeds), torch.zeros_like(negative_pooled)
    return conditioning.embeds, negative_embeds, conditioning.pooled_embeds, negative_pooled
