"""Start the studio: parse arguments, build settings and services, launch the UI. Nothing else."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.cli import EXIT_BAD_INPUT, add_model_options
from studio.settings import DEFAULT_PORT, Settings, SettingsError


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description="SDXL studio")
    add_model_options(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--listen", nargs="?", const="0.0.0.0", default=None, metavar="IP", help="serve beyond this machine (default IP 0.0.0.0)"
    )
    parser.add_argument("--share", action="store_true", help="make a public Gradio share link")
    parser.add_argument("--output-dir", type=Path, default=Settings().output_dir)
    args = parser.parse_args(argv)
    return Settings(
        model=args.model,
        models_dir=args.models_dir,
        output_dir=args.output_dir,
        device=args.device,
        offline=args.offline,
        host=args.listen or "127.0.0.1",
        port=args.port,
        share=args.share,
    )


def main(argv: list[str] | None = None) -> int:
    from studio.services import StartupError, build_services
    from studio.ui import build_ui

    try:
        settings = parse_settings(argv)
        services = build_services(settings)
    except (SettingsError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    demo = build_ui(services)
    demo.queue().launch(
        server_name=settings.host,
        server_port=settings.port,
        share=settings.share,
        allowed_paths=[str(settings.output_dir)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
