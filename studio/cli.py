"""Command line over the same engine: `python -m studio COMMAND`.

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`; this file only
routes. Exit codes: 0 done, 2 bad input or a model that cannot be had (the message names what to change).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from studio.performance_policy import add_performance_options, performance_settings
from studio.settings import DEVICE_CHOICES, Settings, SettingsError
from studio.types import InvalidRequest, limit_of

EXIT_BAD_INPUT = 2

# command -> (module with add_arguments/run, takes the model options, help)
COMMANDS = {
    "generate": ("studio.generate_cli", True, "make images and save them as PNGs with metadata"),
    "compare": ("studio.compare_cli", True, "seed-locked grid of samplers x step counts, with convergence"),
    "expand": ("studio.expansion.cli", False, "expand a short prompt into a detailed one and print it"),
    "style-previews": ("studio.style_previews", True, "render one small thumbnail per style (cached)"),
    "samplers": ("studio.listings", False, "list sampler names"),
    "schedulers": ("studio.listings", False, "list noise schedules (a request's `scheduler`)"),
    "vaes": ("studio.listings", True, "list the VAEs of <models-dir>/vae a request's `vae` may name"),
    "embeddings": ("studio.listings", True, "list the embeddings of <models-dir>/embeddings (embedding:name)"),
    "styles": ("studio.listings", False, "list styles as family<TAB>name lines"),
    "presets": ("studio.listings", False, "list presets as name<TAB>model<TAB>description lines"),
    "performance": ("studio.listings", False, "list performance modes and what each sets"),
    "models": ("studio.listings", True, "list the models --model and requests may name, as name<TAB>source lines"),
    "describe": ("studio.edit.describe_cli", True, "write a prompt for a picture (image captioning)"),
    "mask": ("studio.segment.mask_cli", True, "write an inpaint mask of what words name in a picture"),  # 16
}


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the app and the CLI for where models come from and run."""
    defaults = Settings()
    parser.add_argument(
        "--model",
        default=None,
        help="diffusers folder, .safetensors file, the name of a checkpoint in <models-dir>/checkpoints, hub repo "
        f"id, or 'tiny' (default {defaults.model})",
    )
    parser.add_argument(
        "--inpaint-model",
        default=None,
        help="a dedicated SDXL inpainting model for inpaint/outpaint (diffusers folder, .safetensors with a "
        "9-channel UNet, hub id such as diffusers/stable-diffusion-xl-1.0-inpainting-0.1, or 'tiny'); only its "
        "UNet is loaded, on first use; default: the base model's own UNet",
    )
    parser.add_argument("--models-dir", type=Path, default=defaults.models_dir, help="where downloaded models are kept")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default=defaults.device)
    parser.add_argument("--offline", action="store_true", help="never contact the hub; use downloaded models only")
    add_performance_options(parser)


def limit_help(name: str) -> str:
    limit = limit_of(name)
    return f"{limit.low:g}-{limit.high:g}"


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InvalidRequest("size", f"'{text}' is not WIDTHxHEIGHT, e.g. 1024x1024") from None
    return width, height


def services_for(args: argparse.Namespace, default_model: str | None = None, **settings):
    """The studio's services for a command, from its model options; StartupError if the model can't be had."""
    from studio.services import build_services

    model = args.model or default_model or Settings().model
    settings.setdefault("inpaint_model", getattr(args, "inpaint_model", None) or "")
    return build_services(Settings(model=model, models_dir=args.models_dir, device=args.device, offline=args.offline, **performance_settings(args), **settings))


def print_progress(event) -> None:
    if sys.stderr.isatty():
        text = f"\rimage {event.image_index + 1}/{event.image_count}"
        if event.tiles:  # tiled work (upscale): its phase and tile; a phase without steps has total_steps 0
            text += f"  {event.phase} tile {event.tile}/{event.tiles}"
        if event.total_steps:
            text += f"  step {event.step}/{event.total_steps}"
        last = event.step == event.total_steps and event.tile == event.tiles and event.image_index + 1 == event.image_count
        print(text + "\033[K", end="\n" if last else "", file=sys.stderr)  # K: clear a longer earlier line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="SDXL studio command line")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, model_options, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        if model_options:
            add_model_options(command)
        importlib.import_module(module_name).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    from studio.console_log import configure_console_logging
    from studio.expansion.protocol import ExpansionError
    from studio.models import ModelUnavailable
    from studio.services import StartupError

    args = build_parser().parse_args(argv)
    configure_console_logging()
    try:
        return importlib.import_module(COMMANDS[args.command][0]).run(args)
    except (InvalidRequest, SettingsError, ExpansionError, ModelUnavailable, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
