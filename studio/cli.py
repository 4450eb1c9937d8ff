"""Command line over the same engine: `python -m studio generate|samplers`.

Exit codes: 0 done, 2 bad input or a model that cannot be had (the message names the option to change).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from studio.schedulers import SAMPLER_NAMES
from studio.settings import DEVICE_CHOICES, Settings, SettingsError
from studio.types import GenerationRequest, InvalidRequest, limit_of, random_seed, validate_request

EXIT_BAD_INPUT = 2


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the app and the CLI for where models come from and run."""
    defaults = Settings()
    parser.add_argument("--model", default=defaults.model, help="diffusers folder, .safetensors file, hub repo id, or 'tiny'")
    parser.add_argument("--models-dir", type=Path, default=defaults.models_dir, help="where downloaded models are kept")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default=defaults.device)
    parser.add_argument("--offline", action="store_true", help="never contact the hub; use downloaded models only")


def _limit_help(name: str) -> str:
    limit = limit_of(name)
    return f"{limit.low:g}-{limit.high:g}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="SDXL studio command line")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="make images and save them as PNGs with metadata")
    add_model_options(generate)
    generate.add_argument("--prompt", default="", help=f"at most {limit_of('prompt').high:g} characters")
    generate.add_argument("--negative", default="", help="negative prompt")
    generate.add_argument("--seed", type=int, help=f"{_limit_help('seed')}; random when left out")
    generate.add_argument("--images", type=int, default=1, help=_limit_help("image_count"))
    generate.add_argument("--size", help="WxH, e.g. 1024x1024; the model's square size when left out")
    generate.add_argument("--steps", type=int, default=GenerationRequest.steps, help=_limit_help("steps"))
    generate.add_argument("--cfg", type=float, default=GenerationRequest.cfg_scale, help=_limit_help("cfg_scale"))
    generate.add_argument("--sampler", default=GenerationRequest.sampler, help="see `python -m studio samplers`")
    generate.add_argument("--out", type=Path, default=Settings().output_dir, help="output folder")

    commands.add_parser("samplers", help="list sampler names")
    commands.add_parser("styles", help="list styles as family<TAB>name lines")
    from studio.style_previews import add_arguments as add_style_preview_arguments

    style_previews = commands.add_parser("style-previews", help="render one small thumbnail per style (cached)")
    add_model_options(style_previews)
    add_style_preview_arguments(style_previews)

    from studio.expansion.cli import add_expand_parser

    add_expand_parser(commands)

    from studio.compare_cli import add_compare_parser

    add_compare_parser(commands)
    return parser


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InvalidRequest("size", f"'{text}' is not WIDTHxHEIGHT, e.g. 1024x1024") from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "expand":
        from studio.expansion.cli import run_expand

        return run_expand(args)
    if args.command == "compare":
        from studio.compare_cli import run_compare

        return run_compare(args)
    if args.command == "samplers":
        print("\n".join(SAMPLER_NAMES))
        return 0
    if args.command in ("styles", "style-previews"):
        from studio import style_previews
        from studio.styles import StyleError, StyleLibrary

        if args.command == "style-previews":
            return style_previews.command(args)
        try:
            library = StyleLibrary.load()
        except StyleError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print("\n".join(f"{style.family}\t{style.name}" for style in library.styles))
        return 0
    try:
        return generate(args)
    except (InvalidRequest, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def generate(args: argparse.Namespace) -> int:
    from studio.services import StartupError, build_services

    size = parse_size(args.size) if args.size else None
    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        seed=random_seed() if args.seed is None else args.seed,
        image_count=args.images,
        width=size[0] if size else 0,
        height=size[1] if size else 0,
        steps=args.steps,
        cfg_scale=args.cfg,
        sampler=args.sampler,
    )
    validate_request(request, size_limit=None)  # fail fast, before a model is loaded
    settings = Settings(
        model=args.model, models_dir=args.models_dir, output_dir=args.out, device=args.device, offline=args.offline
    )
    try:
        services = build_services(settings)
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    width, height = size or services.manager.info.default_size
    request = replace(request, width=width, height=height, model=services.manager.info.name)
    result = services.engine.run(request, on_progress=_print_progress)
    for generated in result.images:
        record = services.store.save(generated.image, generated.request)
        line = {"path": record.path, "seed": record.seed, "width": record.width, "height": record.height}
        print(json.dumps(line), flush=True)
    return 0


def _print_progress(event) -> None:
    if sys.stderr.isatty():
        end = "\n" if event.step == event.total_steps and event.image_index + 1 == event.image_count else ""
        print(f"\rimage {event.image_index + 1}/{event.image_count}  step {event.step}/{event.total_steps}", end=end, file=sys.stderr)
