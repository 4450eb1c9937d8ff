"""`generate`'s options for the saved file's format and for starting from an image's recorded settings:

    --format png|jpeg|webp   --quality 1-100   --from-image PATH (a studio, Fooocus or A1111 PNG/JPEG/WebP)

With --from-image the image's settings are the defaults and every option given still wins; its seed is kept
unless --seed is given. What the image holds that the studio has no setting for is named on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from studio.types import OUTPUT_FORMATS, GenerationRequest, InvalidRequest, limit_of

FROM_IMAGE = "--from-image"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    quality = limit_of("output_quality")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="saved file format (default png)")
    parser.add_argument(
        "--quality", type=int, help=f"JPEG/WebP quality, {quality.low:g}-{quality.high:g} (default 95; PNG is lossless)"
    )
    parser.add_argument(
        FROM_IMAGE,
        type=Path,
        metavar="PATH",
        help="start from the settings recorded in an image saved by this studio, Fooocus or A1111",
    )


def output_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"output_format": args.format, "output_quality": args.quality}


def imported_request(args: argparse.Namespace) -> GenerationRequest | None:
    """The request recorded in --from-image's file (None without the option); InvalidRequest naming the
    option if the file cannot be read or holds no settings."""
    path = getattr(args, "from_image", None)
    if path is None:
        return None
    from studio.foreign_metadata import read_settings
    from studio.image_formats import READABLE_PIL_FORMATS
    from studio.inputs import ImageTooLarge, open_image
    from studio.styles import StyleLibrary

    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidRequest(FROM_IMAGE, f"'{path}' cannot be read ({error.strerror})") from None
    try:
        with open_image(data, FROM_IMAGE, formats=READABLE_PIL_FORMATS) as image:
            imported = read_settings(image, StyleLibrary.load().names)
    except ImageTooLarge:
        raise
    except InvalidRequest as error:
        raise InvalidRequest(FROM_IMAGE, f"'{path}' {error.message}") from None
    if imported.note:
        print(imported.note, file=sys.stderr)
    return imported.request
