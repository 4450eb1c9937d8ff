"""Start the studio: parse arguments, build settings and services, serve the UI and API. Nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from studio.auth import parse_credential, read_auth_file
from studio.cli import EXIT_BAD_INPUT, add_model_options
from studio.expansion.cli import add_llm_options, settings_from_args
from studio.performance_policy import performance_settings
from studio.scaleout.options import add_ray_options, ray_settings_from_args
from studio.settings import DEFAULT_PORT, Settings, SettingsError
from studio.translations import LOCALES

AUTH_ENV = "STUDIO_AUTH"  # user:pass[,user:pass...], e.g. in Docker


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description="SDXL studio")
    add_model_options(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--listen",
        nargs="?",
        const="0.0.0.0",
        default=None,
        metavar="IP",
        help="serve beyond this machine (default IP 0.0.0.0)",
    )
    parser.add_argument("--share", action="store_true", help="make a public Gradio share link")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the server answers to besides localhost and the --listen address (repeatable); with "
        "--listen on all interfaces and none given, any name is answered",
    )
    parser.add_argument("--output-dir", type=Path, default=Settings().output_dir)
    parser.add_argument(
        "--auth", action="append", default=[], metavar="USER:PASS", help="a login for the UI and API (repeatable)"
    )
    parser.add_argument("--auth-file", type=Path, help="a file of user:pass lines")
    parser.add_argument(
        "--api-token", action="append", default=[], metavar="TOKEN", help="a bearer token for the API (repeatable)"
    )
    parser.add_argument("--insecure", action="store_true", help="allow --listen/--share without any auth")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="URL",
        help="an exact origin allowed to call the API from a browser",
    )
    parser.add_argument("--preset", help="start with a preset's model and settings (presets/*.json)")
    add_llm_options(parser)
    add_ray_options(parser)
    parser.add_argument(
        "--language",
        choices=LOCALES,
        default="",
        help="show the page in this language for every browser (default: each browser's own language)",
    )
    args = parser.parse_args(argv)
    preset = _preset(args.preset)
    users = [parse_credential(text) for text in args.auth]
    if os.environ.get(AUTH_ENV):
        users += [parse_credential(text, AUTH_ENV) for text in os.environ[AUTH_ENV].split(",") if text.strip()]
    if args.auth_file:
        users += read_auth_file(args.auth_file)
    tokens = [token for token in args.api_token if token.strip()]
    if any(len(token) < 16 for token in tokens):
        raise SettingsError("--api-token must be at least 16 characters long")
    return Settings(
        model=args.model or (preset.model if preset and preset.model else Settings().model),
        preset=preset.name if preset else "",
        expansion=settings_from_args(args, "none"),
        models_dir=args.models_dir,
        inpaint_model=args.inpaint_model or "",
        output_dir=args.output_dir,
        device=args.device,
        offline=args.offline,
        host=args.listen or "127.0.0.1",
        port=args.port,
        share=args.share,
        auth_users=tuple(users),
        api_tokens=tuple(tokens),
        insecure=args.insecure,
        cors_origins=tuple(args.cors_origin),
        allowed_hosts=tuple(args.allowed_host),
        language=args.language,
        **performance_settings(args),
        ray=ray_settings_from_args(args),
    )


def _preset(name: str | None):
    from studio.presets import PresetError, get_preset
    from studio.types import InvalidRequest

    try:
        return get_preset(name) if name else None
    except (PresetError, InvalidRequest) as error:
        raise SettingsError(f"--preset: {error}") from None


def main(argv: list[str] | None = None) -> int:
    from studio.console_log import configure_console_logging
    from studio.services import StartupError, build_services

    configure_console_logging()
    try:
        settings = parse_settings(argv)
        services = build_services(settings)
        jobs = None
        if settings.ray is not None:  # 17: jobs run on Ray Serve replicas; only here is Ray imported
            from studio.scaleout.runner import ray_job_queue

            jobs = ray_job_queue(services, settings.ray)
    except (SettingsError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from studio.server import build_app, serve

    serve(build_app(services, jobs=jobs), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
