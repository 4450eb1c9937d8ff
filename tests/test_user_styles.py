"""User style files in <models-dir>/styles: listed beside the shipped ones; a bad file costs one warning."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

from studio.cli import main
from studio.styles import StyleLibrary
from studio.user_styles import load_styles, reload_styles, user_styles_folder

GOOD = [
    {"name": "My Neon", "prompt": "neon sign of {prompt}, glowing", "negative_prompt": "dull"},
    {"name": "My Sketch", "prompt": "pencil sketch, {prompt}"},  # Fooocus allows no negative_prompt
]


def write_styles(folder, **files) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / f"{name}.json").write_text(content if isinstance(content, str) else json.dumps(content))


def test_good_files_are_listed_and_each_bad_file_is_one_warning_naming_it(tmp_path):
    folder = user_styles_folder(tmp_path)
    write_styles(
        folder,
        **{"Sdxl Styles Mine": GOOD},
        broken="[{",
        no_placeholder=[{"name": "Flat", "prompt": "flat colours", "negative_prompt": ""}],
        clash=[{"name": "Gothic", "prompt": "{prompt}"}, {"name": "My Own", "prompt": "{prompt}, own"}],
    )
    loaded = load_styles(folder)
    shipped = StyleLibrary.load().names
    assert set(loaded.library.names) == {*shipped, "My Neon", "My Sketch", "My Own"}
    assert loaded.user_count == 3
    assert loaded.library.get("My Neon").family == "sdxl_styles_mine"
    assert loaded.library.get("Gothic") == StyleLibrary.load().get("Gothic")  # a user file cannot replace it
    assert loaded.warnings == (
        ("Style file broken.json was not loaded: is not valid JSON (Expecting property name enclosed in double "
        "quotes at line 1, column 3)"),
        "Style file clash.json: Gothic skipped (a style of that name is already listed)",
        "Style file no_placeholder.json was not loaded: entry 0 ('Flat'): 'prompt' must contain {prompt} exactly once",
    )
    assert str(tmp_path) not in " ".join(loaded.warnings)  # the page may be open to others: no server paths


def test_user_style_applies_and_refresh_picks_up_new_files(tmp_path):
    @dataclass(frozen=True)
    class Libraries:
        styles: StyleLibrary

    engine = SimpleNamespace(manager=SimpleNamespace(settings=SimpleNamespace(models_dir=tmp_path)), libraries=None)
    engine.libraries = Libraries(load_styles(user_styles_folder(tmp_path)).library)
    assert "My Neon" not in engine.libraries.styles.names
    write_styles(user_styles_folder(tmp_path), mine=GOOD)
    loaded = reload_styles(engine)
    assert loaded.user_count == 2 and engine.libraries.styles is loaded.library
    assert engine.libraries.styles.apply("a cat", "", ["My Neon"]) == ("neon sign of a cat, glowing", "dull")


def test_the_styles_listing_reads_user_files(tmp_path, capsys):
    write_styles(user_styles_folder(tmp_path), mine=GOOD, broken="{")
    assert main(["styles", "--models-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "mine\tMy Neon" in out.splitlines() and "mine\tMy Sketch" in out.splitlines()
    assert "warning: Style file broken.json was not loaded" in err
