"""Textual-inversion embeddings: `<models-dir>/embeddings/*.safetensors` in SDXL's form (a `clip_l` tensor for the
first text encoder and a `clip_g` one for the second, each vectors x width), named in a prompt as
`embedding:name`, weighted like any text: `(embedding:name:1.1)`.

An embedding's vectors become new tokens of both tokenizers, with their rows added to both text encoders'
token tables, once per loaded model; the prompt's `embedding:name` is replaced by those tokens just before it
is encoded, so the studio's emphasis parsing and long-prompt chunking apply to them as to words. The recorded
request keeps `embedding:name`. Prompts without one encode exactly as before: the added rows are only ever
looked up for the added tokens. Safetensors only, nothing is unpickled.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from pathlib import Path

from studio.library_names import is_library_name
from studio.limits import InvalidRequest, echo

log = logging.getLogger(__name__)

EMBEDDINGS_FOLDER = "embeddings"  # under --models-dir
# `embedding:name` in a prompt: a name of word characters, `+` and `-`, dots inside (a sentence's full stop
# after it is not part of it); `(embedding:name:1.1)` is emphasis around it.
EMBEDDING = re.compile(r"\bembedding:([\w+-]+(?:\.[\w+-]+)*)")
ENCODER_KEYS = ("clip_l", "clip_g")  # SDXL's first and second text encoder
MAX_EMBEDDING_VECTORS = 75  # one CLIP chunk


@dataclass(frozen=True)
class EmbeddingLibrary:
    folder: Path

    @classmethod
    def in_models_dir(cls, models_dir: Path | str) -> EmbeddingLibrary:
        return cls(Path(models_dir) / EMBEDDINGS_FOLDER)

    def names(self) -> tuple[str, ...]:
        if not self.folder.is_dir():
            return ()
        stems = (path.stem for path in self.folder.glob("*.safetensors") if path.is_file())
        return tuple(sorted((stem for stem in stems if is_library_name(stem)), key=str.lower))

    def path(self, name: str) -> Path | None:
        return self.folder / f"{name}.safetensors" if is_library_name(name) and name in self.names() else None


def embedding_names(text: str) -> tuple[str, ...]:
    """The embeddings a prompt names, each once, in order."""
    return tuple(dict.fromkeys(EMBEDDING.findall(text)))


def check_embeddings(prompt: str, negative_prompt: str, library: EmbeddingLibrary) -> None:
    """InvalidRequest naming the prompt that names an embedding the folder does not hold."""
    known = set(library.names())
    for field, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        for name in embedding_names(text):
            if name not in known:
                raise InvalidRequest(
                    field, f"embedding:{echo(name)} names no embedding in <models-dir>/{EMBEDDINGS_FOLDER}"
                )


def read_embedding(path: Path, widths: tuple[int, int]) -> tuple:
    """The (clip_l, clip_g) vectors of an SDXL embedding file, checked against the text encoders' widths."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    if set(ENCODER_KEYS) - set(state):
        raise ValueError("it is not an SDXL embedding (it needs 'clip_l' and 'clip_g' tensors)")
    vectors = tuple(state[key] for key in ENCODER_KEYS)
    for key, tensor, width in zip(ENCODER_KEYS, vectors, widths):
        if tensor.ndim != 2 or tensor.shape[1] != width or not 0 < tensor.shape[0] <= MAX_EMBEDDING_VECTORS:
            raise ValueError(f"its {key} is {tuple(tensor.shape)}; this checkpoint needs up to "
                             f"{MAX_EMBEDDING_VECTORS} vectors of width {width}")  # fmt: skip
    if vectors[0].shape[0] != vectors[1].shape[0]:
        raise ValueError("its clip_l and clip_g hold different numbers of vectors")
    return vectors


class EmbeddingTokens:
    """The embeddings loaded into the resident model's tokenizers and text encoders, by name."""

    def __init__(self, library: EmbeddingLibrary):
        self.library = library
        # The text encoders the tokens below were added to, weakly: a model switched away from must be freed.
        self._encoders: tuple = ()
        self._tokens: dict[str, str] = {}  # name -> its tokens, as prompt text

    def prompt_text(self, pipeline, text: str) -> str:
        """`text` with each `embedding:name` replaced by that embedding's tokens, loaded on first use."""
        names = embedding_names(text)
        if not names:
            return text
        encoders = (pipeline.text_encoder, pipeline.text_encoder_2)
        if tuple(ref() for ref in self._encoders) != encoders:  # another model: its tokenizers know none yet
            self._encoders, self._tokens = tuple(weakref.ref(encoder) for encoder in encoders), {}
        for name in names:
            if name not in self._tokens:
                self._tokens[name] = self._add(pipeline, name)
        return EMBEDDING.sub(lambda match: self._tokens[match.group(1)], text)

    def _add(self, pipeline, name: str) -> str:
        import torch

        path = self.library.path(name)
        if path is None:
            raise InvalidRequest("prompt", f"embedding:{echo(name)} names no embedding in <models-dir>/{EMBEDDINGS_FOLDER}")
        pairs = ((pipeline.tokenizer, pipeline.text_encoder), (pipeline.tokenizer_2, pipeline.text_encoder_2))
        widths = tuple(encoder.get_input_embeddings().weight.shape[1] for _, encoder in pairs)
        try:
            vectors = read_embedding(path, widths)
        except (ValueError, OSError) as error:
            raise InvalidRequest("prompt", f"embedding:{name} could not be loaded: {error}") from error
        # Lower case: CLIP's tokenizer lowers the prompt's text before it matches added tokens.
        tokens = [f"<studio-embedding-{len(self._tokens)}-{index}>" for index in range(vectors[0].shape[0])]
        # Outside inference mode (the engine encodes inside it): the grown tables must stay ordinary tensors.
        with torch.inference_mode(False), torch.no_grad():
            for (tokenizer, encoder), rows in zip(pairs, vectors):
                tokenizer.add_tokens(tokens)  # a tokenizer both encoders share gets them once
                ids = tokenizer.convert_tokens_to_ids(tokens)
                table = encoder.get_input_embeddings()
                if table.weight.shape[0] < len(tokenizer):
                    encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
                    table = encoder.get_input_embeddings()
                table.weight[ids] = rows.to(device=table.weight.device, dtype=table.weight.dtype)
                # CLIP configs with eos_token_id 2 pool at the highest token id, which an added token now
                # outranks; pooling at the end-of-text token is what that rule meant (same result without them).
                for module in encoder.modules():
                    if hasattr(module, "eos_token_id"):  # transformers' CLIPTextTransformer
                        module.eos_token_id = tokenizer.eos_token_id
        log.info("loaded the embedding %s (%d vectors)", name, len(tokens))
        return " ".join(tokens)
