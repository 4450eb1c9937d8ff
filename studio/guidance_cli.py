"""`generate` options for the sampling-loop look (sharpness, ADM scaling, adaptive CFG, FreeU, CLIP skip).

One option per GenerationRequest field of GUIDANCE_FIELDS; help text and limits come from the field.
An option left out keeps the preset's value, or the neutral default.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from studio.types import GUIDANCE_FIELDS, GenerationRequest


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def add_guidance_arguments(parser: argparse.ArgumentParser) -> None:
    declared = {f.name: f for f in fields(GenerationRequest)}
    for name in GUIDANCE_FIELDS:
        f = declared[name]
        limit = f.metadata["limit"]
        kind = type(f.default)
        parser.add_argument(
            option_name(name),
            dest=name,
            type=kind,
            help=f"{f.metadata['help']} ({limit.low:g}-{limit.high:g}, default {f.default:g})",
        )


def guidance_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The guidance fields the options set (the rest are left to the preset or the defaults)."""
    return {name: getattr(args, name) for name in GUIDANCE_FIELDS if getattr(args, name, None) is not None}
