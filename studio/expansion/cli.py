"""`python -m studio expand "prompt" --seed N`: print one expansion as a JSON line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from studio.expansion.protocol import ExpansionError
from studio.expansion.settings import DEFAULT_KEY_ENV, DEFAULT_LLM_MODEL, DEFAULT_LLM_URL, ExpansionSettings
from studio.types import InvalidRequest, limit_of, random_seed

EXIT_BAD_INPUT = 2


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """The LLM endpoint options, shared by `expand` and (later) `generate --expand llm`."""
    defaults = ExpansionSettings()
    parser.add_argument("--llm-url", default=DEFAULT_LLM_URL, help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--llm-model", default=DEFAULT_LLM_MODEL, help="model name served by the endpoint")
    parser.add_argument("--llm-key-env", default=DEFAULT_KEY_ENV, help="environment variable holding the API key")
    parser.add_argument("--llm-temperature", type=float, default=defaults.temperature, help="0-2")
    parser.add_argument("--llm-timeout", type=float, default=defaults.timeout, help="seconds, 0.1-300")
    parser.add_argument("--expansion-model", default="", help="local expansion model folder (default: download)")
    parser.add_argument(
        "--instruct-model", default="", help="local instruct model folder for --expand instruct and translation (default: download)"
    )


def add_arguments(expand: argparse.ArgumentParser) -> None:
    from studio.settings import Settings

    expand.add_argument("prompt", help="the prompt to expand")
    expand.add_argument("--seed", type=int, help="one seed always gives one expansion; random when left out")
    expand.add_argument("--mode", choices=("local", "llm", "instruct"), default="local")
    expand.add_argument(
        "--models-dir", type=Path, default=Settings().models_dir, help="where downloaded models are kept"
    )
    expand.add_argument("--offline", action="store_true", help="never contact the hub; use downloaded models only")
    add_llm_options(expand)


def settings_from_args(args: argparse.Namespace, mode: str) -> ExpansionSettings:
    return ExpansionSettings(
        mode=mode,
        local_model=args.expansion_model,
        base_url=args.llm_url,
        model=args.llm_model,
        api_key_env=args.llm_key_env,
        temperature=args.llm_temperature,
        timeout=args.llm_timeout,
        instruct_model=args.instruct_model,
    )


def run(args: argparse.Namespace) -> int:
    from studio.expansion.factory import build_expander

    offline = args.offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    seed = random_seed() if args.seed is None else args.seed
    try:
        limit_of("seed").check("seed", seed)
        settings = settings_from_args(args, args.mode)
        expansion = build_expander(settings, args.models_dir, offline).expand(args.prompt, seed)
    except (ExpansionError, InvalidRequest) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    line = {"prompt": args.prompt, "expansion": expansion, "seed": seed, "mode": args.mode}
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0
