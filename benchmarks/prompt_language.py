"""Issue 18's per-keystroke and per-request costs, side by side in one run:

    python -m benchmarks.prompt_language [--runs 200] [--json out.json]

- token counter: `TokenCounter.summary` (both encoders, emphasis parsed, chunked by compel) against one bare
  CLIP tokenizer call on the same text, for a short, a one-chunk and a three-chunk prompt, alternating;
- translation "auto" on an English prompt (script detection, no model) against "off": resolving a request
  with each, alternating. The expanders point at an empty, offline models folder, so a model call would fail
  the run: "auto" on English text provably never touches the language model.
No model weights needed; CPU only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = {
    "short (8 tokens)": "a lighthouse on a cliff at dusk, oil",
    "one chunk (~70 tokens)": ", ".join(["(a lighthouse:1.2) on a cliff at dusk", "oil painting", "stormy sky"] * 5),
    "three chunks (~200 tokens)": "a big cat on a windowsill at night. " * 20,
}


def alternate(first, second, runs: int) -> tuple[float, float]:
    """Median seconds of `first` and `second`, called in turn `runs` times each."""
    a, b = [], []
    for _ in range(runs):
        for func, times in ((first, a), (second, b)):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def measure_counter(runs: int) -> list[dict]:
    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.token_count import TokenCounter

    tokenizers = load_clip_tokenizers()
    counter = TokenCounter(tokenizers)
    rows = []
    for name, prompt in PROMPTS.items():
        counted, bare = alternate(
            lambda prompt=prompt: counter.summary(prompt),
            lambda prompt=prompt: tokenizers[0](prompt, add_special_tokens=False, verbose=False),
            runs,
        )
        chunks = counter.count(prompt)[0].chunks
        rows.append({"prompt": name, "chunks": list(chunks), "counter_ms": counted * 1e3, "tokenizer_ms": bare * 1e3,
                     "ratio": counted / bare})  # fmt: skip
    return rows


def measure_auto_translate(runs: int) -> dict:
    from studio.expansion.factory import ExpanderCache
    from studio.expansion.settings import ExpansionSettings
    from studio.resolve import PromptLibraries, resolve_images
    from studio.settings import Settings
    from studio.types import GenerationRequest

    with tempfile.TemporaryDirectory() as folder:
        libraries = PromptLibraries.for_settings(Settings(models_dir=Path(folder)))
        libraries = replace(libraries, expanders=ExpanderCache(ExpansionSettings(), Path(folder), offline=True))
        request = GenerationRequest(prompt=PROMPTS["one chunk (~70 tokens)"], seed=1, image_count=4)
        auto = replace(request, translate="auto")
        if resolve_images(auto, libraries, None) != resolve_images(request, libraries, None):
            raise RuntimeError("translate=auto changed an English request; the comparison would be void")
        off_s, auto_s = alternate(lambda: resolve_images(request, libraries, None),
                                  lambda: resolve_images(auto, libraries, None), runs)  # fmt: skip
    return {"images": request.image_count, "off_ms": off_s * 1e3, "auto_ms": auto_s * 1e3, "ratio": auto_s / off_s}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import format_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    counter = measure_counter(args.runs)
    translate = measure_auto_translate(args.runs)
    rows = [{"name": f"counter, {row['prompt']}", "a": row["counter_ms"], "b": row["tokenizer_ms"], "ratio": row["ratio"],
             "note": " + ".join(map(str, row["chunks"])) + " tokens"} for row in counter]  # fmt: skip
    rows.append({"name": "resolve, English: auto vs off", "a": translate["auto_ms"], "b": translate["off_ms"],
                 "ratio": translate["ratio"], "note": f"{translate['images']} images, no model touched"})  # fmt: skip
    print(format_table(rows, [("name", "measure", ""), ("a", "ms (median)", ".3f"), ("b", "baseline ms", ".3f"),
                              ("ratio", "ratio", ".2f"), ("note", "", "")]))  # fmt: skip
    print("baseline: one bare CLIP tokenizer call on the same text; resolve with translate off")
    if args.json:
        args.json.write_text(json.dumps({"counter": counter, "auto_translate": translate}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
