"""Command-line options of masks from words and Enhance, for `generate`:

    --inpaint IMG --mask-from-text "face" [--mask-threshold T] [--mask-text-grow PX]   (instead of --mask)
    --enhance "face" [--enhance "hands" ...]   up to 3 regions, each found by its words
    --enhance-prompt/--enhance-negative/--enhance-mode/--enhance-strength/--enhance-threshold/--enhance-grow
        given once (every region) or once per region, in the order of --enhance
    --enhance-order after_upscale|before_upscale
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from studio.edit_spec import INPAINT_MODES, EditSpec
from studio.enhance_spec import (
    ENHANCE_ORDERS,
    MAX_ENHANCE_REGIONS,
    EnhanceRegion,
    EnhanceSpec,
    region_help,
    region_limit,
)
from studio.limits import InvalidRequest

# per-region option -> (EnhanceRegion field, type)
REGION_OPTIONS = {
    "enhance_prompt": ("prompt", str),
    "enhance_negative": ("negative_prompt", str),
    "enhance_mode": ("inpaint_mode", str),
    "enhance_strength": ("strength", float),
    "enhance_threshold": ("threshold", float),
    "enhance_grow": ("grow", int),
}


def _limits(name: str) -> str:
    limit = region_limit(name)
    return f"{limit.low:g}-{limit.high:g}"


def add_enhance_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("masks from words and Enhance")
    group.add_argument("--mask-from-text", metavar="WORDS", help="with --inpaint, instead of --mask: repaint what WORDS name, e.g. 'face'")
    group.add_argument("--mask-threshold", type=float, default=EnhanceRegion.threshold, help=f"{region_help('threshold')}; {_limits('threshold')}")
    group.add_argument("--mask-text-grow", type=int, default=EnhanceRegion.grow, help=f"{region_help('grow')}; {_limits('grow')}")
    group.add_argument("--enhance", action="append", metavar="WORDS", help=f"a region to re-paint after the image is made (up to {MAX_ENHANCE_REGIONS})")
    defaults = {f.name: f.default for f in fields(EnhanceRegion)}
    for option, (name, kind) in REGION_OPTIONS.items():
        extra = f"; {_limits(name)}" if kind is not str else ""
        if name == "inpaint_mode":
            extra = f"; one of {', '.join(INPAINT_MODES)}"
        group.add_argument(
            "--" + option.replace("_", "-"), action="append", type=kind,
            help=f"{region_help(name)} (default {defaults[name]!r}){extra}; once, or once per --enhance",
        )  # fmt: skip
    group.add_argument("--enhance-order", choices=ENHANCE_ORDERS, default="after_upscale", help="with --upscale: enhance the upscaled picture or the input")


def enhance_from_args(args: argparse.Namespace) -> EnhanceSpec | None:
    """The EnhanceSpec the options ask for, or None; InvalidRequest names the option that is wrong."""
    regions = args.enhance or []
    for option in REGION_OPTIONS:
        given = getattr(args, option)
        flag = "--" + option.replace("_", "-")
        if given and not regions:
            raise InvalidRequest(flag, "needs --enhance WORDS")
        if given and len(given) not in (1, len(regions)):
            raise InvalidRequest(flag, f"is given {len(given)} times; give it once or once per --enhance ({len(regions)})")
    if not regions:
        return None
    built = []
    for index, words in enumerate(regions):
        values = {"detect": words}
        for option, (name, _kind) in REGION_OPTIONS.items():
            given = getattr(args, option)
            if given:
                values[name] = given[0] if len(given) == 1 else given[index]
        built.append(EnhanceRegion(**values))
    try:
        return EnhanceSpec(tuple(built), args.enhance_order).check()
    except InvalidRequest as error:  # name the option, e.g. --enhance-strength for enhance.regions[0].strength
        name = error.field.rsplit(".", 1)[-1]
        option = next((o for o, (field, _k) in REGION_OPTIONS.items() if field == name), "enhance")
        raise InvalidRequest("--" + option.replace("_", "-"), error.message) from None


def check_mask_from_text(args: argparse.Namespace) -> bool:
    """Whether --mask-from-text is asked for (then --inpaint is, and --mask is not); its limits checked."""
    if not args.mask_from_text:
        return False
    if not args.inpaint:
        raise InvalidRequest("--mask-from-text", "is used with --inpaint IMG")
    if args.mask:
        raise InvalidRequest("--mask-from-text", "replaces --mask; give one of them")
    region_limit("threshold").check("--mask-threshold", args.mask_threshold)
    region_limit("grow").check("--mask-text-grow", args.mask_text_grow)
    return True


def inpaint_from_text(args: argparse.Namespace, engine) -> EditSpec:
    """The inpaint EditSpec of `--inpaint IMG --mask-from-text WORDS`: the mask made by the engine's models and
    stored with the image in its inputs."""
    from studio.edit.cli_args import read_image
    from studio.segment.text_masks import mask_from_text, mask_image

    image = read_image(args.inpaint, "--inpaint").convert("RGB")
    names = ("--mask-from-text", "--mask-threshold", "--mask-text-grow")
    found = mask_from_text(engine.text_masks, image, args.mask_from_text, args.mask_threshold, args.mask_text_grow, names)
    return EditSpec(
        kind="inpaint", image=engine.inputs.put(image), mask=engine.inputs.put(mask_image(found)),
        inpaint_mode=args.inpaint_mode, mask_grow=args.mask_grow, mask_feather=args.mask_feather,
    ).check()  # fmt: skip
