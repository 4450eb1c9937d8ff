"""Settings read from images other tools made: A1111's `parameters` text and Fooocus's metadata (its JSON
scheme and its A1111-like one), mapped onto a GenerationRequest. JSON and regular expressions only: nothing
read from a file is ever evaluated (Fooocus writes Python reprs such as "['a', 'b']" and "(1152, 896)";
they are picked apart by pattern, never by `eval` or `ast`).

What the studio has no setting for is named in `ImportedSettings.ignored`, so the user is told in one
sentence what will differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any

from PIL import Image

from studio.image_formats import fooocus_scheme, parameters_text
from studio.outputs import MAX_METADATA_BYTES, parse_studio_metadata, studio_text
from studio.performance import PERFORMANCE_NAMES
from studio.schedulers import SAMPLER_NAMES
from studio.types import GenerationRequest, InvalidRequest, LoraWeight, limit_of

SOURCES = ("studio", "a1111", "fooocus")
FOOOCUS_EXPANSION_STYLE = "Fooocus V2"  # Fooocus's prompt expansion, listed among its styles

# Fooocus (ComfyUI k-diffusion) sampler names -> the A1111 family name the studio's names are built on
_KSAMPLERS = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "lms": "LMS",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_gpu": "DPM++ SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
    "lcm": "LCM",
    "tcd": "TCD",
}
# schedules the sampler's plain name already means (A1111's "Automatic", ComfyUI's "normal", ...)
_PLAIN_SCHEDULES = {"", "automatic", "normal", "simple", "uniform", "ddim_uniform", "lcm", "tcd"}
# entries that describe the image (hashes, versions) rather than set anything: not reported as ignored
_INFORMATIONAL = {
    "model hash", "lora hashes", "ti hashes", "vae hash", "version", "hashes", "base_model_hash",
    "full_prompt", "full_negative_prompt", "metadata_scheme", "prompt_expansion", "created_by", "raw prompt",
    "raw negative prompt", "fooocus v2 expansion", "user", "schedule type", "scheduler", "resolution", "lora_hashes",
}
_UNSET = {"", "None", "Default (model)"}  # what Fooocus writes for no refiner, the model's own VAE, ...
_A1111_SETTING = re.compile(r'\s*(\w[\w \-/+]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?")
_INLINE_LORA = re.compile(r"<lora:([^:>]+):")


@dataclass(frozen=True)
class ImportedSettings:
    """A request read from an image, which tool wrote it, and the settings it holds that were not applied."""

    request: GenerationRequest
    source: str  # one of SOURCES
    ignored: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """One sentence for the user about what was not applied, or "" when everything was."""
        if not self.ignored:
            return ""
        tool = {"a1111": "A1111", "fooocus": "Fooocus"}.get(self.source, self.source)
        return f"Read {tool} settings; these have no match here and were ignored: {', '.join(self.ignored)}."


def read_settings(image: Image.Image, style_names: Collection[str] | None = None) -> ImportedSettings:
    """The settings recorded in an opened image: the studio's own request if it has one, else Fooocus's or
    A1111's parameters. `style_names` (the studio's styles) says which Fooocus styles can be applied; the
    others are named as ignored. InvalidRequest("image", ...) when the image holds none of these."""
    own = studio_text(image)
    if own:
        return ImportedSettings(parse_studio_metadata(own), "studio")
    text = parameters_text(image)
    if not text:
        raise InvalidRequest("image", "holds no generation settings (neither this studio's, Fooocus's nor A1111's)")
    return parse_parameters(text, fooocus_scheme(image), style_names)


def parse_parameters(text: str, scheme: str | None = None, style_names: Collection[str] | None = None) -> ImportedSettings:
    """Parameters text as Fooocus or A1111 write it; `scheme` is what Fooocus names beside it, if anything."""
    if len(text) > MAX_METADATA_BYTES:
        raise InvalidRequest("metadata", f"is larger than {MAX_METADATA_BYTES} bytes")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidRequest("metadata", "looks like Fooocus's JSON but is not valid JSON") from None
        if isinstance(data, dict):
            return parse_fooocus_json(data, style_names)
    return parse_a1111(text, style_names)


def parse_a1111(text: str, style_names: Collection[str] | None = None) -> ImportedSettings:
    """A1111's text: prompt lines, an optional `Negative prompt:` part, then `Key: value, ...` as the last
    line (quoted values are JSON strings). Fooocus's A1111-like scheme adds `Raw prompt`, `Styles`, ...;
    with its styles the raw prompt is used so the styles are not applied twice."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines and len(_A1111_SETTING.findall(lines[-1])) >= 3:
        settings = {key.strip(): _unquote(value.strip()) for key, value in _A1111_SETTING.findall(lines.pop())}
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    values: dict[str, Any] = {"prompt": "\n".join(prompt_lines).strip(), "negative_prompt": "\n".join(negative_lines).strip()}
    ignored: list[str] = []
    fooocus = settings.get("Version", "").casefold().startswith("fooocus")
    styles = _python_strings(settings.pop("Styles", "")) if fooocus else []
    if fooocus and styles:
        values["prompt"] = settings.get("Raw prompt", values["prompt"])
        values["negative_prompt"] = settings.get("Raw negative prompt", values["negative_prompt"])
        _styles(values, styles, style_names, ignored)
    for key, value in settings.items():
        name = key.casefold()
        if value.strip() in _UNSET:
            continue
        if name == "steps":
            _number(values, "steps", value, int, key, ignored)
        elif name == "cfg scale":
            _number(values, "cfg_scale", value, float, key, ignored)
        elif name == "seed":
            _number(values, "seed", value, int, key, ignored)
        elif name == "size":
            _size(values, value, ignored)
        elif name == "sampler":
            schedule = settings.get("Schedule type", settings.get("Scheduler", ""))
            _sampler(values, value, schedule, ignored)
        elif name == "model":
            values["model"] = PurePath(value).stem if value.endswith(".safetensors") else value
        elif name == "performance" and fooocus:
            _performance(values, value, ignored)
        elif name == "lora weights" and fooocus:  # "name: 0.5, other: 1"
            for index, part in enumerate(p for p in value.split(",") if p.strip()):
                lora_name, _, weight = part.rpartition(":")
                _lora(values, f"{lora_name.strip()} : {weight.strip()}", f"LoRA {index + 1}", ignored)
        elif name not in _INFORMATIONAL:
            ignored.append(key)
    return ImportedSettings(_request(values), "fooocus" if fooocus else "a1111", tuple(ignored))


def parse_fooocus_json(data: dict[str, Any], style_names: Collection[str] | None = None) -> ImportedSettings:
    """Fooocus's JSON scheme: snake_case keys; styles, resolution and LoRAs written as Python reprs."""
    values: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if value is None or text.strip() in _UNSET:
            continue
        if key in ("prompt", "negative_prompt"):
            values[key] = text if isinstance(value, str) else ""
        elif key == "steps":
            _number(values, "steps", text, int, key, ignored)
        elif key == "guidance_scale":
            _number(values, "cfg_scale", text, float, key, ignored)
        elif key == "seed":
            _number(values, "seed", text, int, key, ignored)
        elif key == "resolution":
            _size(values, text, ignored)
        elif key == "sampler":
            _sampler(values, text, str(data.get("scheduler", "")), ignored)
        elif key == "base_model":
            values["model"] = PurePath(text).stem if text.endswith(".safetensors") else text
        elif key == "styles":
            _styles(values, _python_strings(text), style_names, ignored)
        elif key == "performance":
            _performance(values, text, ignored)
        elif key.startswith("lora_combined_"):
            _lora(values, text, key, ignored)
        elif key not in _INFORMATIONAL:
            ignored.append(key.replace("_", " "))
    return ImportedSettings(_request(values), "fooocus", tuple(ignored))


def studio_sampler(name: str, schedule: str = "") -> str | None:
    """The studio's sampler for an A1111 sampler name (or a Fooocus one) and schedule, or None."""
    name = _KSAMPLERS.get(name.strip(), name.strip())
    karras = schedule.strip().casefold() == "karras" or name.endswith(" Karras")
    base = name.removesuffix(" Karras")
    if schedule.strip().casefold() not in _PLAIN_SCHEDULES | {"karras"}:
        return None
    candidate = f"{base} Karras" if karras else base
    return candidate if candidate in SAMPLER_NAMES else None


def _request(values: dict[str, Any]) -> GenerationRequest:
    loras = values.pop("loras", ())
    request = GenerationRequest(**values)
    return replace(request, loras=tuple(loras)) if loras else request


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value


def _python_strings(text: str) -> list[str]:
    """The strings of a Python list repr such as "['Fooocus V2', \"Mk's style\"]", by pattern only."""
    found = []
    for single, double in _QUOTED.findall(text):
        raw = single or double
        found.append(re.sub(r"\\(.)", r"\1", raw))
    return found


def _number(values: dict[str, Any], field: str, text: str, kind: type, key: str, ignored: list[str]) -> None:
    try:
        number = int(text.strip()) if kind is int else float(text)  # int(): seeds beyond a float's precision
        limit_of(field).check(field, number)
    except (ValueError, OverflowError, InvalidRequest):
        ignored.append(f"{key} ({text.strip()[:20]})")
        return
    values[field] = number


def _size(values: dict[str, Any], text: str, ignored: list[str]) -> None:
    numbers = _NUMBERS.findall(text)
    if len(numbers) == 2 and all(n.isdigit() for n in numbers):
        values["width"], values["height"] = int(numbers[0]), int(numbers[1])  # the loader checks it fits
    else:
        ignored.append(f"Size ({text[:20]})")


def _sampler(values: dict[str, Any], name: str, schedule: str, ignored: list[str]) -> None:
    sampler = studio_sampler(name, schedule)
    if sampler is None:
        described = f"{name} {schedule}".strip()
        ignored.append(f"Sampler ({described[:40]})")
    else:
        values["sampler"] = sampler


def _performance(values: dict[str, Any], name: str, ignored: list[str]) -> None:
    if name in PERFORMANCE_NAMES:
        values["performance"] = name
    else:
        ignored.append(f"Performance ({name[:30]})")


def _styles(values: dict[str, Any], styles: list[str], style_names: Collection[str] | None, ignored: list[str]) -> None:
    kept = []
    for style in styles:
        if style == FOOOCUS_EXPANSION_STYLE:
            values["expansion"] = "local"  # the studio's own seeded prompt expansion
        elif style_names is None or style in style_names:
            kept.append(style)
        else:
            ignored.append(f"style {style}")
    values["styles"] = tuple(kept)


def _lora(values: dict[str, Any], text: str, key: str, ignored: list[str]) -> None:
    """Fooocus's "name : weight" (a file name or stem)."""
    name, separator, weight = text.rpartition(" : ")
    try:
        parsed = float(weight)
    except ValueError:
        parsed = None
    if not separator or parsed is None or not name.strip() or name.strip() == "None":
        ignored.append(key)
        return
    stem = PurePath(name.strip()).name
    stem = stem.removesuffix(".safetensors")
    values.setdefault("loras", []).append(LoraWeight(stem, parsed))
