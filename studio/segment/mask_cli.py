"""`python -m studio mask IMG --text WORDS [--threshold T] [--grow PX] [--out mask.png]`: write the mask (white =
what the words name) that `generate --inpaint IMG --mask mask.png` repaints, and print its path."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.enhance_spec import EnhanceRegion, region_help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to find things in")
    parser.add_argument("--text", required=True, help="what to find, e.g. 'face', 'hands', 'person'")
    parser.add_argument("--threshold", type=float, default=EnhanceRegion.threshold, help=region_help("threshold"))
    parser.add_argument("--grow", type=int, default=EnhanceRegion.grow, help=region_help("grow"))
    parser.add_argument("--out", type=Path, help="where to write the mask PNG (default: IMG's name + .mask.png)")


def run(args: argparse.Namespace) -> int:
    """Loads only the detector and segmenter (never the SDXL checkpoint); `--model tiny` uses tiny ones."""
    from studio.edit.cli_args import read_image
    from studio.models import PipelineManager
    from studio.segment.text_masks import TextMasks, mask_from_text, mask_image
    from studio.settings import Settings
    from studio.tiny import TINY_MODEL_NAME

    image = read_image(args.image, "image").convert("RGB")
    model = args.model or Settings().model
    settings = Settings(model=model, models_dir=args.models_dir, device=args.device, offline=args.offline)
    text_masks = TextMasks(PipelineManager(settings), random_weights=model == TINY_MODEL_NAME)
    found = mask_from_text(text_masks, image, args.text, args.threshold, args.grow, ("--text", "--threshold", "--grow"))
    out = args.out or args.image.with_suffix(".mask.png")
    mask_image(found).save(out)
    print(json.dumps({"path": str(out), "pixels": int(found.sum()), "width": image.width, "height": image.height}), flush=True)
    return 0
