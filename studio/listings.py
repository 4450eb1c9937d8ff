"""The list commands: samplers, styles, presets, performance modes, models (what `--model`/a request may name)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if parser.prog.endswith(" styles"):  # 15D: user style files are in <models-dir>/styles
        from studio.settings import Settings

        parser.add_argument("--models-dir", type=Path, default=Settings().models_dir, help="where user style files are")


def run(args: argparse.Namespace) -> int:
    print("\n".join(LISTINGS[args.command](args)))
    return 0


def _samplers(_args) -> list[str]:
    from studio.schedulers import SAMPLER_NAMES

    return list(SAMPLER_NAMES)


def _styles(args) -> list[str]:
    import sys

    from studio.user_styles import load_styles, user_styles_folder

    loaded = load_styles(user_styles_folder(args.models_dir))
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return [f"{style.family}\t{style.name}" for style in loaded.library.styles]


def _presets(_args) -> list[str]:
    from studio.presets import load_presets

    return [f"{preset.name}\t{preset.model}\t{preset.description}" for preset in load_presets().values()]


def _performance(_args) -> list[str]:
    from studio.performance import PERFORMANCE_MODES

    return [f"{mode.name}\t{mode.describe()}" for mode in PERFORMANCE_MODES.values()]


def _models(args) -> list[str]:
    """The model a studio started with these options runs, then the checkpoints of <models-dir>/checkpoints:
    name<TAB>where it comes from. Nothing is loaded."""
    from studio.checkpoints import CheckpointLibrary, model_name
    from studio.settings import Settings

    library = CheckpointLibrary.in_models_dir(args.models_dir)
    started_with = args.model or Settings().model
    first = model_name(started_with, library)
    return [f"{first}\t--model {started_with}"] + [
        f"{name}\t{path}" for name, path in library.entries().items() if name != first
    ]


def _schedulers(_args) -> list[str]:
    from studio.schedulers import SCHEDULE_NAMES

    return list(SCHEDULE_NAMES)


def _vaes(args) -> list[str]:
    from studio.vaes import VaeLibrary

    return list(VaeLibrary.in_models_dir(args.models_dir).names())


def _embeddings(args) -> list[str]:
    from studio.embeddings import EmbeddingLibrary

    return list(EmbeddingLibrary.in_models_dir(args.models_dir).names())


LISTINGS = {
    "samplers": _samplers,
    "styles": _styles,
    "presets": _presets,
    "performance": _performance,
    "models": _models,
    "schedulers": _schedulers,  # 15B
    "vaes": _vaes,
    "embeddings": _embeddings,
}
