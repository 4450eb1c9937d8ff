"""The CLIP BPE tokenizers SDXL uses, built offline from the vocabulary shipped in the open-clip-torch wheel.

SDXL base 1.0 has two CLIP tokenizers with the same 49408-token vocabulary; they differ only in the padding
token: `tokenizer` pads with "<|endoftext|>" (id 49407), `tokenizer_2` with "!" (id 0). We rebuild the
Hugging Face `vocab.json`/`merges.txt` from `open_clip/bpe_simple_vocab_16e6.txt.gz` exactly as OpenAI's CLIP
builds its vocabulary, write them once into a cache folder (atomically), and build tokenizers from them.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import tempfile
from pathlib import Path

CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
CLIP_VOCAB_SIZE = 49408
CLIP_MAX_LENGTH = 77
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
# pad tokens of stabilityai/stable-diffusion-xl-base-1.0 tokenizer/ and tokenizer_2/
PAD_TOKEN = EOS_TOKEN
PAD_TOKEN_2 = "!"
_N_MERGES = 49152 - 256 - 2  # lines[1 : 49152 - 256 - 2 + 1] of the BPE file


def clip_bpe_path() -> Path:
    """The CLIP BPE merges file inside the installed open-clip-torch package (found without importing torch)."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("open-clip-torch is not installed; it ships the CLIP BPE vocabulary")
    for location in spec.submodule_search_locations:
        path = Path(location) / CLIP_BPE_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{CLIP_BPE_FILE} not found in the open_clip package")


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP/GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_vocab_and_merges(bpe_path: Path | None = None) -> tuple[dict[str, int], list[str]]:
    """(token -> id, merges) exactly as OpenAI CLIP's SimpleTokenizer builds them."""
    with gzip.open(bpe_path or clip_bpe_path()) as file:
        raw = file.read().decode("utf-8").split("\n")
    merges = raw[1 : _N_MERGES + 1]
    if len(merges) != _N_MERGES:
        raise ValueError(f"CLIP BPE file has {len(merges)} merges, expected {_N_MERGES}")
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != CLIP_VOCAB_SIZE:
        raise ValueError(f"CLIP vocabulary has {len(vocab)} tokens, expected {CLIP_VOCAB_SIZE}")
    return vocab, merges


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_cache_dir() -> Path:
    digest = hashlib.sha256(clip_bpe_path().read_bytes()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"studio-clip-tokenizer-{digest}"


def write_clip_tokenizer_files(folder: Path | None = None) -> Path:
    """Write vocab.json and merges.txt (Hugging Face layout) into `folder` once; return the folder."""
    folder = Path(folder) if folder is not None else default_cache_dir()
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    if vocab_file.is_file() and merges_file.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges()
    _atomic_write_text(merges_file, "#version: 0.2\n" + "\n".join(merges) + "\n")
    _atomic_write_text(vocab_file, json.dumps(vocab, ensure_ascii=False))
    return folder


@functools.lru_cache(maxsize=4)
def _read_files(folder: str) -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    """The vocabulary and merge pairs of one cache folder, parsed once per process."""
    folder_path = Path(folder)
    vocab = json.loads((folder_path / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder_path / "merges.txt").read_text(encoding="utf-8").split("\n")
    merges = tuple(tuple(line.split()) for line in lines[1:] if line)
    return vocab, merges


def _make_tokenizer(folder: str, vocab: dict[str, int], merges: tuple[tuple[str, str], ...], pad_token: str):
    import inspect

    from transformers import CLIPTokenizer

    if "vocab_file" in inspect.signature(CLIPTokenizer.__init__).parameters:  # transformers 4.x
        files = dict(vocab_file=str(Path(folder) / "vocab.json"), merges_file=str(Path(folder) / "merges.txt"))
    else:  # transformers 5: a `tokenizers` BPE built from the vocabulary and merge pairs
        files = dict(vocab=dict(vocab), merges=list(merges))
    return CLIPTokenizer(
        **files,
        unk_token=EOS_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=pad_token,
        model_max_length=CLIP_MAX_LENGTH,
    )


def load_clip_tokenizers(folder: Path | None = None):
    """(tokenizer, tokenizer_2) as in SDXL base 1.0, built offline; files are cached in `folder`.

    The files are written once and parsed once per process; each call builds new tokenizer objects
    (~50 ms each), so a caller that adds tokens (textual inversion) cannot change what others get.
    """
    folder = str(write_clip_tokenizer_files(folder).resolve())
    vocab, merges = _read_files(folder)
    return _make_tokenizer(folder, vocab, merges, PAD_TOKEN), _make_tokenizer(folder, vocab, merges, PAD_TOKEN_2)
