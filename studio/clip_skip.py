"""CLIP skip: prompt embeddings taken from an earlier layer of both SDXL text encoders.

SDXL already reads the penultimate layer (`hidden_states[-2]`); skipping N more layers reads
`hidden_states[-(N + 2)]`, the meaning of diffusers' `clip_skip`. A forward hook on each text encoder drops
its last N hidden states for the length of the encoding, so both encoding paths (diffusers' `encode_prompt`
and compel's, for emphasis and long prompts) read the earlier layer, and the pooled embedding stays the
final layer's, as it does with diffusers' `clip_skip`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from studio.limits import InvalidRequest


@contextmanager
def clip_skipped(pipeline, layers: int) -> Iterator[None]:
    """Encode prompts inside this block to skip `layers` more text-encoder layers; 0 installs nothing."""
    if not layers:
        yield
        return

    def drop_last_layers(module, args, kwargs, output):
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is None:
            return output
        if layers > len(hidden_states) - 2:
            raise InvalidRequest("clip_skip", f"is {layers}; this model's text encoders allow at most {len(hidden_states) - 2}")
        output.hidden_states = hidden_states[: len(hidden_states) - layers]
        return output

    encoders = [encoder for encoder in (pipeline.text_encoder, pipeline.text_encoder_2) if encoder is not None]
    handles = [encoder.register_forward_hook(drop_last_layers, with_kwargs=True) for encoder in encoders]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
