"""Command-line options of the input-image tools (`describe` is in describe_cli.py).

`generate` gains `--inpaint IMG --mask MASK [--inpaint-mode]`, `--outpaint left,right [--outpaint-size]`,
`--vary subtle|strong`, `--upscale 1.5|2|fast2` (the last three take the picture from `--image`), and the
controls `--mask-invert`, `--mask-grow -N` (erode), `--denoise`, `--respective-field`, `--inpaint-prompt`.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from studio.inputs import InputStore, decode_image
from studio.types import INPAINT_MODES, UPSCALE_MODES, VARY_STRENGTHS, EditSpec, InvalidRequest


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input image tools")
    group.add_argument("--inpaint", type=Path, metavar="IMG", help="repaint the white area of --mask in IMG")
    group.add_argument("--mask", type=Path, help="inpaint mask: white = repaint, same size as the image")
    group.add_argument("--inpaint-mode", choices=tuple(INPAINT_MODES), default="default")
    group.add_argument(
        "--mask-grow", type=int, default=EditSpec.mask_grow,
        help=f"pixels the mask / outpaint seam grows ({_limit('mask_grow')}; below 0 erodes the inpaint mask)",
    )  # fmt: skip
    group.add_argument("--mask-feather", type=int, default=EditSpec.mask_feather, help="pixels of soft paste-back edge")
    group.add_argument(
        "--outpaint", metavar="SIDES", help="extend --image on sides, e.g. left,right (of left,right,top,bottom)"
    )
    group.add_argument(
        "--outpaint-size", type=float, default=EditSpec.outpaint_size, help="added per side, fraction of the side"
    )
    group.add_argument("--vary", choices=tuple(VARY_STRENGTHS), help="a variation of --image")
    group.add_argument(
        "--upscale", choices=tuple(UPSCALE_MODES), help="enlarge --image (fast2: the upscale model only)"
    )
    group.add_argument("--image", type=Path, help="the picture for --outpaint, --vary or --upscale")
    # 15c: inpaint controls and the denoise override (each left out = the tool's own behaviour)
    group.add_argument("--mask-invert", action="store_true", help="inpaint the black side of --mask instead")
    group.add_argument(
        "--denoise", type=float, default=EditSpec.denoise,
        help=f"denoise strength of the tool ({_limit('denoise')}); 0 = the mode's, vary strength's or upscale's own",
    )  # fmt: skip
    group.add_argument(
        "--respective-field", type=float, default=EditSpec.inpaint_context,
        help=f"inpaint context around the mask, a fraction of its box ({_limit('inpaint_context')}); 0 = the mode's",
    )  # fmt: skip
    group.add_argument("--inpaint-prompt", default="", help="inpaint: a prompt added for the repainted area")


def _limit(name: str) -> str:
    limit = next(f.metadata["limit"] for f in fields(EditSpec) if f.name == name)
    return f"{limit.low:g} to {limit.high:g}"


def read_image(path: Path, field: str):
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidRequest(field, f"cannot read {path} ({error.strerror})") from None
    return decode_image(data, field)


def edit_from_args(args: argparse.Namespace, inputs: InputStore) -> EditSpec | None:
    """The EditSpec the options ask for (input images stored by hash in `inputs`), or None; InvalidRequest
    names the option that is wrong."""
    chosen = [name for name in ("inpaint", "outpaint", "vary", "upscale") if getattr(args, name)]
    if len(chosen) > 1:
        raise InvalidRequest(f"--{chosen[1]}", f"choose one tool per run, not --{chosen[0]} and --{chosen[1]}")
    if args.mask and chosen != ["inpaint"]:
        raise InvalidRequest("--mask", "is used with --inpaint only")
    if not chosen:
        if args.image:
            raise InvalidRequest("--image", "needs --outpaint, --vary or --upscale")
        return None
    kind = chosen[0]
    if kind == "inpaint":
        if args.mask is None:
            raise InvalidRequest("--mask", "--inpaint needs a mask image (white = repaint)")
        image, mask = read_image(args.inpaint, "--inpaint"), read_image(args.mask, "--mask")
        values = {
            "mask": inputs.put(mask), "inpaint_mode": args.inpaint_mode, "mask_invert": args.mask_invert,
            "inpaint_context": args.respective_field, "inpaint_prompt": args.inpaint_prompt,
        }  # fmt: skip
    else:
        if args.image is None:
            raise InvalidRequest("--image", f"--{kind} needs --image IMG")
        image, values = read_image(args.image, "--image"), {}
        if kind == "outpaint":
            values.update(
                outpaint_sides=tuple(side.strip() for side in args.outpaint.split(",") if side.strip()),
                outpaint_size=args.outpaint_size,
            )
        elif kind == "vary":
            values.update(vary_strength=args.vary)
        else:
            values.update(upscale=args.upscale)
    for option, name in (("--mask-invert", "mask_invert"), ("--respective-field", "respective_field"), ("--inpaint-prompt", "inpaint_prompt")):
        if kind != "inpaint" and getattr(args, name):
            raise InvalidRequest(option, f"is used with --inpaint only, not --{kind}")
    return EditSpec(
        kind=kind, image=inputs.put(image), mask_grow=args.mask_grow, mask_feather=args.mask_feather,
        denoise=args.denoise, **values,
    ).check()  # fmt: skip
