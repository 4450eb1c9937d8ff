"""Presets and the generate options of issue 3: --preset, --style, --lora, --performance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.outputs import read_request
from studio.presets import PRESET_FIELDS, PresetError, load_presets, read_preset
from studio.tiny import save_tiny_lora
from studio.types import GenerationRequest, LoraWeight


def test_shipped_presets_load_and_set_what_they_promise():
    presets = load_presets()
    assert {"default", "realistic", "anime", "lightning", "extreme-speed"} <= set(presets)
    for preset in presets.values():
        assert preset.model and set(preset.settings) == set(PRESET_FIELDS)
    assert presets["lightning"].settings["performance"] == "Lightning"
    assert presets["extreme-speed"].settings["performance"] == "Extreme Speed"


def test_applying_a_preset_changes_only_its_fields(tmp_path):
    base = GenerationRequest(prompt="kept", seed=5, steps=12, image_count=3)
    partial = _write(tmp_path, {"version": 1, "name": "mine", "model": "tiny", "settings": {"cfg_scale": 3.5, "styles": ["Film Noir"]}})
    applied = read_preset(partial).apply(base)
    assert (applied.prompt, applied.seed, applied.steps, applied.image_count) == ("kept", 5, 12, 3)
    assert (applied.cfg_scale, applied.styles) == (3.5, ("Film Noir",))


def _write(folder: Path, data) -> Path:
    path = folder / "mine.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "data, message",
    [
        ({"version": 2, "name": "x", "model": "m", "settings": {}}, "version"),
        ({"version": 1, "name": "x", "model": "m", "settings": {"steps": 0}}, "settings.steps"),
        ({"version": 1, "name": "x", "model": "m", "settings": {"seed": 3}}, "settings.seed is not a preset setting"),
        ({"version": 1, "name": "x", "model": "m", "settings": {"cfg_scale": "high"}}, "cfg_scale"),
        ({"version": 1, "name": "x", "model": "m", "extra": 1}, "unknown key 'extra'"),
        ({"version": 1, "model": "m"}, "needs a text 'name'"),
    ],
)
def test_bad_preset_files_name_the_problem(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(PresetError, match=message) as error:
        read_preset(path)
    assert str(path) in str(error.value)


def test_preset_with_an_absent_model_gives_a_clear_message_offline(tmp_path, capsys):
    code = main(["generate", "--preset", "realistic", "--prompt", "x", "--models-dir", str(tmp_path), "--out", str(tmp_path), "--offline"])
    assert code == 2
    err = capsys.readouterr().err
    assert "SG161222/RealVisXL_V4.0" in err and "--model" in err and "Traceback" not in err


def test_generate_with_preset_styles_lora_and_performance(tmp_path, models_dir, tiny_services, capsys):
    save_tiny_lora(models_dir / "loras" / "cli-lora.safetensors", seed=9)
    code = main(["generate", "--model", "tiny", "--models-dir", str(models_dir), "--preset", "default", "--prompt", "a (red:1.2) cube",
                 "--size", "64x48", "--steps", "2", "--style", "Film Noir", "--style", "Watercolor Wash", "--lora", "cli-lora:0.5",
                 "--performance", "Quality", "--seed", "3", "--out", str(tmp_path), "--device", "cpu"])  # fmt: skip
    assert code == 0
    request = read_request(json.loads(capsys.readouterr().out)["path"])
    assert (request.width, request.height, request.steps, request.performance) == (64, 48, 2, "Quality")
    assert request.cfg_scale == load_presets()["default"].settings["cfg_scale"]
    assert "red:1.2" in request.prompt and "film noir" in request.prompt.lower() and request.styles == ()
    assert request.loras == (LoraWeight("cli-lora", 0.5),)


def test_unknown_style_and_lora_exit_2(tmp_path, models_dir, capsys):
    base = ["generate", "--model", "tiny", "--models-dir", str(models_dir), "--size", "32x32", "--steps", "1", "--out", str(tmp_path)]
    assert main([*base, "--style", "Nope Style"]) == 2
    assert "styles[0]: 'Nope Style' is not a style" in capsys.readouterr().err
    assert main([*base, "--lora", "../../etc/passwd:1"]) == 2
    assert "loras[0].name: '../../etc/passwd' is not a LoRA" in capsys.readouterr().err


@pytest.mark.parametrize("command, expected", [("presets", "lightning\t"), ("performance", "Lightning\t4 steps, CFG 1"), ("styles", "Film Noir")])
def test_listing_commands(command, expected, capsys):
    assert main([command]) == 0
    assert expected in capsys.readouterr().out
