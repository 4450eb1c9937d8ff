"""`--image-prompt PATH:TYPE[:WEIGHT[:STOP]]` for `python -m studio generate` (repeatable, up to 4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.inputs import InputStore, decode_image
from studio.types import IMAGE_PROMPT_DEFAULTS, IMAGE_PROMPT_TYPES, MAX_IMAGE_PROMPTS, ImagePrompt, InvalidRequest

OPTION = "--image-prompt"


def add_image_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ", ".join(f"{name} {w:g}/{s:g}" for name, (w, s) in IMAGE_PROMPT_DEFAULTS.items())
    parser.add_argument(
        OPTION,
        action="append",
        default=None,
        metavar="PATH:TYPE[:WEIGHT[:STOP]]",
        help=f"an image prompt (repeatable, up to {MAX_IMAGE_PROMPTS}); TYPE is one of {', '.join(IMAGE_PROMPT_TYPES)}, "
        f"WEIGHT 0-2, STOP 0-1 (defaults weight/stop: {defaults}); add ':raw' to use the image as the map as it is",
    )


def parse_image_prompt(text: str) -> tuple[str, str, float | None, float | None, bool]:
    """(path, type, weight, stop, skip_preprocess). The path may itself hold ':' (e.g. C:\\x.png): the last
    part naming a type ends it."""
    parts = text.split(":")
    types = {name.lower(): name for name in IMAGE_PROMPT_TYPES}
    positions = [i for i, part in enumerate(parts) if i > 0 and part.strip().lower() in types]
    if not positions:
        raise InvalidRequest(
            OPTION, f"'{text}' is not PATH:TYPE[:WEIGHT[:STOP]] with TYPE one of {', '.join(IMAGE_PROMPT_TYPES)}"
        )
    at = positions[-1]
    path, slot_type, rest = ":".join(parts[:at]), types[parts[at].strip().lower()], [p.strip() for p in parts[at + 1 :]]
    skip = bool(rest) and rest[-1].lower() == "raw"
    if skip:
        rest = rest[:-1]
    if len(rest) > 2:
        raise InvalidRequest(OPTION, f"'{text}' has too many parts; expected PATH:TYPE[:WEIGHT[:STOP]][:raw]")
    try:
        numbers = [float(part) for part in rest]
    except ValueError:
        raise InvalidRequest(OPTION, f"'{text}': WEIGHT and STOP must be numbers") from None
    weight = numbers[0] if numbers else None
    stop = numbers[1] if len(numbers) > 1 else None
    return path, slot_type, weight, stop, skip


def image_prompts_from_args(args: argparse.Namespace, inputs: InputStore) -> tuple[ImagePrompt, ...]:
    """Read, decode (with the upload limits) and store each `--image-prompt` image; the slots name it by hash."""
    prompts = []
    for index, text in enumerate(getattr(args, "image_prompt", None) or []):
        path, slot_type, weight, stop, skip = parse_image_prompt(text)
        field = f"image_prompts[{index}]"
        try:
            data = Path(path).expanduser().read_bytes()
        except OSError as error:
            raise InvalidRequest(field, f"cannot read '{path}' ({error.strerror or type(error).__name__})") from None
        image = decode_image(data, field)
        prompts.append(ImagePrompt.of(inputs.put(image), slot_type, weight, stop, skip))
    return tuple(prompts)
