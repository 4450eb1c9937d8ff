"""`python -m studio describe IMG [--style photo|illustration]`: print a prompt for a picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.edit.describe import DESCRIBE_STYLES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the picture to describe")
    parser.add_argument("--style", choices=tuple(DESCRIBE_STYLES), default="photo", help="the kind of prompt to write")


def run(args: argparse.Namespace) -> int:
    """Loads only the captioner (never the SDXL checkpoint); `--model tiny` uses the tiny random captioner."""
    from studio.edit.cli_args import read_image
    from studio.edit.tools import EditModels
    from studio.models import PipelineManager
    from studio.settings import Settings
    from studio.tiny import TINY_MODEL_NAME

    image = read_image(args.image, "image")
    model = args.model or Settings().model
    settings = Settings(model=model, models_dir=args.models_dir, device=args.device, offline=args.offline)
    models = EditModels(PipelineManager(settings), random_weights=model == TINY_MODEL_NAME)
    print(models.describe(image, args.style), flush=True)
    return 0
