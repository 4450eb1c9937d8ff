"""The list commands: samplers, styles, presets, performance modes."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("\n".join(LISTINGS[args.command]()))
    return 0


def _samplers() -> list[str]:
    from studio.schedulers import SAMPLER_NAMES

    return list(SAMPLER_NAMES)


def _styles() -> list[str]:
    from studio.styles import StyleLibrary

    return [f"{style.family}\t{style.name}" for style in StyleLibrary.load().styles]


def _presets() -> list[str]:
    from studio.presets import load_presets

    return [f"{preset.name}\t{preset.model}\t{preset.description}" for preset in load_presets().values()]


def _performance() -> list[str]:
    from studio.performance import PERFORMANCE_MODES

    return [f"{mode.name}\t{mode.describe()}" for mode in PERFORMANCE_MODES.values()]


LISTINGS = {"samplers": _samplers, "styles": _styles, "presets": _presets, "performance": _performance}
