"""The installed package set: what requirements.txt pins is what is installed, and it can load LoRAs.

A fresh `pip install -r requirements.txt` once resolved transformers 5.24, which demands a peft that is not
released, and every LoRA failed. These tests name the package that drifted, and prove on a tiny model that the
installed transformers/diffusers/peft combination loads a LoRA into both the UNet and a text encoder.
"""

from __future__ import annotations

import re
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest

from studio.tiny import save_tiny_lora
from studio.types import LoraWeight

ROOT = Path(__file__).resolve().parent.parent
CORE = ("torch", "diffusers", "transformers", "peft", "accelerate", "gradio", "huggingface_hub", "compel")


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
        if match:
            found[normalised(match[1])] = match[2]
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(normalised(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0]))
    return names


def test_requirements_apply_the_constraints_and_every_requirement_is_pinned():
    assert "-c constraints.txt" in (ROOT / "requirements.txt").read_text()
    pinned = pins()
    for path in (ROOT / "requirements.txt", ROOT / "tests" / "requirements.txt"):
        unpinned = [name for name in requirement_names(path) if name not in pinned]
        assert not unpinned, f"{path.name}: {unpinned} have no pin in constraints.txt"


@pytest.mark.parametrize("package", CORE)
def test_the_installed_core_packages_are_the_pinned_ones(package):
    try:
        installed = version(package)
    except PackageNotFoundError:
        pytest.fail(f"{package} is not installed: run `pip install -r requirements.txt`")
    expected = pins()[normalised(package)]
    assert installed.split("+")[0] == expected, (
        f"{package} {installed} is installed but constraints.txt pins {expected}: "
        "reinstall with `pip install -r requirements.txt`, or test the new version and move the pin"
    )


def test_the_installed_stack_loads_a_lora_into_the_unet_and_a_text_encoder(tiny_services, tiny_request, models_dir):
    """Through the studio's own LoRA code: a UNet + text-encoder LoRA changes the picture."""
    save_tiny_lora(models_dir / "loras" / "install-check.safetensors", seed=11, text_encoder=True)
    base = tiny_services.engine.run(tiny_request).images[0].image
    with_lora = tiny_services.engine.run(replace(tiny_request, loras=(LoraWeight("install-check", 1.0),)))
    difference = np.abs(np.asarray(base, dtype=int) - np.asarray(with_lora.images[0].image, dtype=int)).mean()
    assert difference > 0.5, "the LoRA loaded but changed nothing"
