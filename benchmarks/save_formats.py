"""Saving an image: PNG vs JPEG vs WebP through OutputStore (metadata included), and the A1111 line's model
hash taken once vs cached, side by side in one run.

    python -m benchmarks.save_formats [--runs 7] [--size 1024] [--model-mb 256] [--json out.json]

The picture is smooth gradients plus noise, closer to a generated image than a flat colour. Formats are
timed alternating, so a busy machine slows them alike; the ratios are to PNG in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def picture(size: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    channels = [np.sin(6 * x + 2 * y), np.cos(4 * y - 3 * x), np.sin(5 * x * y + 1)]
    pixels = np.stack([(c + 1) * 110 for c in channels], axis=-1) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"))


def measure(runs: int = 7, size: int = 1024, model_mb: int = 256) -> dict:
    from studio.a1111_line import FileHashes, ResourceHashes
    from studio.outputs import OutputStore
    from studio.types import GenerationRequest

    image = picture(size)
    request = GenerationRequest(prompt="a benchmark picture", width=size, height=size, model="bench")
    results: dict = {"runs": runs, "size": size, "formats": {}}
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "bench.safetensors"
        with open(model, "wb") as file:
            block = bytes(range(256)) * 4096  # 1 MiB
            file.writelines(block for _ in range(model_mb))
        hashes = ResourceHashes({"bench": model}.get, lambda _name: None, FileHashes())
        started = time.perf_counter()
        hashes.model_hash("bench")
        first = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(100):
            hashes.model_hash("bench")
        cached = (time.perf_counter() - started) / 100
        results["hash"] = {"model_mb": model_mb, "first_s": first, "cached_s": cached}

        store = OutputStore(Path(folder) / "out", hashes)
        times: dict[str, list[float]] = {"png": [], "jpeg": [], "webp": []}
        sizes: dict[str, int] = {}
        for run in range(runs):
            for output_format, taken in times.items():
                started = time.perf_counter()
                record = store.save(image, replace(request, seed=run, output_format=output_format))
                taken.append(time.perf_counter() - started)
                sizes[output_format] = Path(record.path).stat().st_size
        png = statistics.median(times["png"])
        for output_format, values in times.items():
            median = statistics.median(values)
            results["formats"][output_format] = {
                "median_ms": median * 1000,
                "ratio_to_png": median / png,
                "file_kib": sizes[output_format] / 1024,
                "size_ratio_to_png": sizes[output_format] / sizes["png"],
            }
    return results


def table(results: dict) -> str:
    lines = [f"save {results['size']}x{results['size']}, median of {results['runs']} alternating runs (quality 95)",
             f"{'format':<6} {'ms':>8} {'x PNG':>6} {'KiB':>8} {'size x PNG':>10}"]  # fmt: skip
    for name, row in results["formats"].items():
        lines.append(
            f"{name:<6} {row['median_ms']:>8.1f} {row['ratio_to_png']:>6.2f} {row['file_kib']:>8.0f} "
            f"{row['size_ratio_to_png']:>10.2f}"
        )
    hashed = results["hash"]
    lines.append(
        f"model hash of a {hashed['model_mb']} MiB file: first {hashed['first_s'] * 1000:.0f} ms, "
        f"then {hashed['cached_s'] * 1e6:.1f} µs per image (cached)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--model-mb", type=int, default=256)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args.runs, args.size, args.model_mb)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
