"""Style preview thumbnails: one small image per style, made with the loaded model at a fixed seed and subject.

`python -m studio style-previews` fills a cache folder (default `<models-dir>/style-previews/<model>/`) with
`<style slug>.webp` files; the style picker shows them where `preview_path` finds one. Resumable: a style
whose thumbnail exists is skipped, so delete the folder (or pass another `--out`) after changing the model,
seed, size or steps. Each file is written to a temporary name and renamed, so a stopped run leaves no
half-written thumbnail.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from studio.styles import StyleLibrary, slug
from studio.types import GenerationRequest

PREVIEW_SUBJECT = "a lighthouse on a cliff above the sea"
PREVIEW_SEED = 1234
PREVIEW_STEPS = 20
PREVIEW_CFG = 6.0
THUMBNAIL_SIDE = 256  # longest side of a saved thumbnail, in pixels
THUMBNAIL_SUFFIX = ".webp"


def preview_path(out_dir: Path | str, name: str) -> Path:
    """Where the thumbnail of style `name` lives in a preview folder (it may not exist yet)."""
    return Path(out_dir) / f"{slug(name)}{THUMBNAIL_SUFFIX}"


def default_preview_dir(models_dir: Path | str, model_name: str) -> Path:
    """`<models-dir>/style-previews/<model>/`, the model name made filesystem-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("._") or "model"
    return Path(models_dir) / "style-previews" / safe


def render_style_previews(
    services,
    library: StyleLibrary,
    out_dir: Path | str,
    seed: int = PREVIEW_SEED,
    size: tuple[int, int] | None = None,
    steps: int = PREVIEW_STEPS,
    only: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Render the thumbnails missing from `out_dir` (all styles, or the names in `only`); returns the paths
    written by this call, in library order. `size` is (width, height); the model's square size when None."""
    from tqdm import tqdm

    names = library.names if only is None else tuple(dict.fromkeys(library.get(name).name for name in only))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width, height = size or services.manager.info.default_size
    missing = [name for name in names if not preview_path(out_dir, name).exists()]
    written: list[Path] = []
    bar = tqdm(total=len(names), initial=len(names) - len(missing), unit="style", file=sys.stderr, disable=not progress)
    with bar:
        for name in missing:
            bar.set_postfix_str(name, refresh=False)
            prompt, negative = library.apply(PREVIEW_SUBJECT, "", [name], seed)
            request = GenerationRequest(
                prompt=prompt,
                negative_prompt=negative,
                seed=seed,
                width=width,
                height=height,
                steps=steps,
                cfg_scale=PREVIEW_CFG,
                model=services.manager.info.name,
            )
            image = services.engine.run(request).images[0].image
            written.append(_save_thumbnail(image, preview_path(out_dir, name)))
            bar.update(1)
    return written


def _save_thumbnail(image, path: Path) -> Path:
    image = image.convert("RGB")
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    handle, temporary = tempfile.mkstemp(prefix=".", suffix=THUMBNAIL_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            image.save(file, format="WEBP", quality=88)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `style-previews` options after the shared model options."""
    parser.add_argument("--out", type=Path, help="thumbnail folder; <models-dir>/style-previews/<model>/ when left out")
    parser.add_argument("--seed", type=int, default=PREVIEW_SEED, help="the one seed every thumbnail uses")
    parser.add_argument(
        "--size", help="WxH to render at (saved at most 256 px a side); the model's square size when left out"
    )
    parser.add_argument("--steps", type=int, default=PREVIEW_STEPS, help="denoising steps")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="render just these styles")


def run(args: argparse.Namespace) -> int:
    """`python -m studio style-previews`: prints each written thumbnail's path; exit 2 on bad input."""
    from studio.cli import EXIT_BAD_INPUT, parse_size, services_for
    from studio.styles import StyleError
    from studio.types import InvalidRequest, validate_request
    from studio.user_styles import load_styles, user_styles_folder

    try:
        library = load_styles(user_styles_folder(args.models_dir)).library  # 15D: user style files too
        for name in args.only or ():
            library.get(name)  # fail fast, before a model is loaded
        size = parse_size(args.size) if args.size else None
        validate_request(GenerationRequest(seed=args.seed, steps=args.steps), size_limit=None)
    except (StyleError, InvalidRequest) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    services = services_for(args)
    out_dir = args.out or default_preview_dir(args.models_dir, services.manager.info.name)
    written = render_style_previews(services, library, out_dir, args.seed, size, args.steps, args.only, progress=True)
    for path in written:
        print(path, flush=True)
    print(f"{len(written)} thumbnails written to {out_dir}", file=sys.stderr)
    return 0
