"""`python -m studio generate`: make images and save them as PNGs with metadata, one JSON line each.

Settings come from, in rising priority: the request's defaults, `--preset`, then the options given.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path

from studio.cli import limit_help, parse_size, print_progress, services_for
from studio.control.cli_args import add_image_prompt_arguments, image_prompts_from_args
from studio.edit.cli_args import add_edit_arguments, edit_from_args
from studio.expansion.cli import add_llm_options, settings_from_args
from studio.guidance_cli import add_guidance_arguments, guidance_from_args
from studio.inputs import InputStore
from studio.output_cli_args import add_output_arguments, imported_request, output_options
from studio.performance import PERFORMANCE_MODES, PERFORMANCE_NAMES
from studio.schedulers import SCHEDULE_NAMES
from studio.segment.cli_args import add_enhance_arguments, check_mask_from_text, enhance_from_args, inpaint_from_text
from studio.settings import Settings
from studio.types import (
    EXPANSION_MODES,
    TRANSLATE_MODES,
    GenerationRequest,
    InvalidRequest,
    LoraWeight,
    limit_of,
    random_seed,
    validate_request,
)


def field_help(name: str) -> str:
    return next(f.metadata["help"] for f in fields(GenerationRequest) if f.name == name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="a preset name from presets/ (its model and settings are the defaults)")
    parser.add_argument("--prompt", help=f"at most {limit_of('prompt').high:g} characters")
    parser.add_argument("--negative", help="negative prompt")
    parser.add_argument("--seed", type=int, help=f"{limit_help('seed')}; random when left out")
    parser.add_argument("--images", type=int, default=1, help=limit_help("image_count"))
    parser.add_argument("--size", help="WxH, e.g. 1024x1024; the preset's or the model's square size when left out")
    parser.add_argument("--performance", choices=PERFORMANCE_NAMES, help="Quality 60 steps, Speed 30, or a speed-LoRA mode")
    parser.add_argument("--steps", type=int, help=limit_help("steps"))
    parser.add_argument("--cfg", type=float, help=limit_help("cfg_scale"))
    parser.add_argument("--sampler", help="see `python -m studio samplers`")
    parser.add_argument("--style", action="append", default=None, help="a style name (repeatable); see `python -m studio styles`")
    parser.add_argument("--lora", action="append", default=None, metavar="NAME[:WEIGHT]", help="a LoRA from <models-dir>/loras (repeatable)")
    parser.add_argument("--expand", choices=EXPANSION_MODES, help="prompt expansion (default none)")
    parser.add_argument("--scheduler", choices=SCHEDULE_NAMES, help="noise schedule; default: the sampler's own")
    parser.add_argument("--vae", help="a VAE from <models-dir>/vae by name (see `python -m studio vaes`); default: the checkpoint's own")
    parser.add_argument("--refiner", help="a checkpoint of <models-dir>/checkpoints that finishes the image")
    parser.add_argument("--refiner-switch", type=float, help=f"{limit_help('refiner_switch')}; default 0.8")
    parser.add_argument(  # 18: on for people at a terminal; a request without the field stays "off"
        "--translate", choices=TRANSLATE_MODES, default="auto", help=field_help("translate") + " (default auto)"
    )
    parser.add_argument("--out", type=Path, default=Settings().output_dir, help="output folder")
    # 15c: how the images of one run differ
    parser.add_argument("--same-seed", action="store_true", help="disable seed increment: every image uses --seed")
    parser.add_argument(
        "--wildcards-in-order", action="store_true", help="image i takes line i of each __wildcard__ (not by seed)"
    )
    add_llm_options(parser)
    add_guidance_arguments(parser)  # --sharpness, --adm-scale-positive, ..., --clip-skip (15A)
    add_edit_arguments(parser)  # --inpaint/--mask, --outpaint, --vary, --upscale, --image (studio/edit/)
    add_image_prompt_arguments(parser)  # --image-prompt PATH:TYPE[:WEIGHT[:STOP]] (studio/control/)
    add_output_arguments(parser)  # 15D: --format, --quality, --from-image (studio/output_cli_args.py)
    add_enhance_arguments(parser)  # 16: --mask-from-text, --enhance WORDS ... (studio/segment/)


def parse_lora(text: str) -> LoraWeight:
    name, _, weight = text.partition(":")
    try:
        return LoraWeight(name.strip(), float(weight) if weight else 1.0)
    except ValueError:
        raise InvalidRequest("loras", f"'{text}' is not NAME or NAME:WEIGHT") from None


def request_from_args(args: argparse.Namespace, preset=None) -> GenerationRequest:
    """The request the options ask for; width/height stay 0 when neither --size nor the preset sets them."""
    request = GenerationRequest(width=0, height=0)
    if preset is not None:
        request = preset.apply(request)
    imported = imported_request(args)  # 15D: --from-image's settings, before the options given
    request = imported or request
    if args.performance:
        request = replace(request, performance=args.performance, steps=PERFORMANCE_MODES[args.performance].steps)
    given = {
        "prompt": args.prompt,
        "negative_prompt": args.negative,
        "seed": args.seed if args.seed is not None else (None if imported else random_seed()),
        "image_count": args.images,
        "steps": args.steps,
        "cfg_scale": args.cfg,
        "sampler": args.sampler,
        "styles": tuple(args.style) if args.style is not None else None,
        "loras": tuple(parse_lora(text) for text in args.lora) if args.lora is not None else None,
        "expansion": args.expand,
        **guidance_from_args(args),
        "scheduler": args.scheduler,  # 15B
        "vae": args.vae,
        "refiner": args.refiner,
        "refiner_switch": args.refiner_switch,
        "translate": args.translate,
        "disable_seed_increment": args.same_seed or None,  # 15c: left out = the preset's (or neutral) value
        "wildcards_in_order": args.wildcards_in_order or None,
    }
    if args.size:
        given["width"], given["height"] = parse_size(args.size)
    given.update(output_options(args))
    return replace(request, **{key: value for key, value in given.items() if value is not None})


def run(args: argparse.Namespace) -> int:
    from studio.presets import PresetError, get_preset

    try:
        preset = get_preset(args.preset) if args.preset else None
    except PresetError as error:
        raise InvalidRequest("preset", str(error)) from None
    request = request_from_args(args, preset)
    text_mask = check_mask_from_text(args)  # 16: that mask is made once the models are loaded
    if not text_mask:
        request = replace(request, edit=edit_from_args(args, InputStore(args.out / "inputs")))  # the engine's inputs
    request = replace(request, enhance=enhance_from_args(args))  # 16
    request = replace(request, image_prompts=image_prompts_from_args(args, InputStore(args.out / "inputs")))
    validate_request(request, size_limit=None)  # fail fast, before a model is loaded
    services = services_for(
        args, preset.model if preset else None, output_dir=args.out, expansion=settings_from_args(args, "none")
    )
    if not request.width:
        request = replace(request, width=services.manager.info.default_size[0], height=services.manager.info.default_size[1])
    request = replace(request, model=services.manager.info.name)
    if text_mask:  # 16
        request = replace(request, edit=inpaint_from_text(args, services.engine))
    result = services.engine.run(request, on_progress=print_progress)
    for generated in result.images:
        record = services.store.save(generated.image, generated.request)
        line = {"path": record.path, "seed": record.seed, "width": record.width, "height": record.height}
        print(json.dumps(line), flush=True)
    return 0

