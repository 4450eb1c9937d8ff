"""Styles: the shipped library, applying styles in order, negatives, Random style, bad files, CLI, previews."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from studio.style_previews import preview_path, render_style_previews
from studio.styles import RANDOM_STYLE, STYLES_DIR, StyleError, StyleLibrary, slug
from studio.types import InvalidRequest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def library():
    return StyleLibrary.load()


def write_styles(folder: Path, family: str, entries) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{family}.json"
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries), encoding="utf-8")
    return path


def style(name, prompt="{prompt}, x", negative=""):
    return {"name": name, "prompt": prompt, "negative_prompt": negative}


@pytest.fixture
def small(tmp_path):
    write_styles(
        tmp_path,
        "one",
        [
            style("Alpha", "alpha art, {prompt}, soft", "blurry, Text"),
            style("Beta", "beta still of {prompt} at night", "text, noise, blurry"),
        ],
    )
    write_styles(tmp_path, "two", [style("Gamma", "{prompt}, gamma", ""), style("Delta", "delta, {prompt}", "grain")])
    return StyleLibrary.load(tmp_path)


def test_shipped_library(library):
    assert STYLES_DIR == ROOT / "styles"
    assert len(library.names) >= 150
    assert len({name.casefold() for name in library.names}) == len(library.names)
    assert len({slug(name) for name in library.names}) == len(library.names)
    assert len(library.families) >= 10 and {"photography", "design", "game_art"} <= set(library.families)
    for item in library.styles:
        assert item.prompt.count("{prompt}") == 1, item.name
        assert item.negative_prompt and item.family
        styled, _ = library.apply("", "", [item.name])
        assert styled and not styled.startswith((",", " ")) and not styled.endswith((",", " ")), item.name
        assert ", ," not in styled and ",," not in styled and "  " not in styled, item.name
    assert [s.family for s in library.styles] == sorted(s.family for s in library.styles)


def test_apply_nests_in_order(small):
    assert small.apply("a cat", "", ["Alpha"]) == ("alpha art, a cat, soft", "blurry, Text")
    prompt, _ = small.apply("a cat", "", ["Alpha", "Beta"])
    assert prompt == "beta still of alpha art, a cat, soft at night"
    assert small.apply("a cat", "", ["Beta", "Alpha"])[0] == "alpha art, beta still of a cat at night, soft"
    assert small.apply("a cat, ", " neg ", []) == ("a cat, ", " neg ")  # no styles: untouched


def test_negatives_merge_without_duplicates(small):
    _, negative = small.apply("a cat", "Blurry, dust,, ", ["Alpha", "Beta", "Delta"])
    assert negative == "Blurry, dust, Text, noise, grain"


def test_negative_conflicts_between_styles_are_dropped(tmp_path):
    write_styles(
        tmp_path,
        "f",
        [
            style("Noir", "noir photo, {prompt}", "painting, cartoon"),
            style("Wash", "watercolor painting, {prompt}", "photo, 3d"),
        ],
    )
    library = StyleLibrary.load(tmp_path)
    _, negative = library.apply("a cat", "", ["Noir", "Wash"])
    assert negative == "cartoon, 3d"
    assert library.apply("a cat", "", ["Noir"])[1] == "painting, cartoon"
    assert library.apply("a cat", "painting", ["Wash"])[1] == "painting, photo, 3d"  # the user's own word stays


def test_empty_prompt_leaves_no_dangling_separators(small):
    assert small.apply("", "", ["Alpha"])[0] == "alpha art, soft"
    assert small.apply("  ", "", ["Gamma", "Delta"])[0] == "delta, gamma"
    assert small.apply("", "", ["Delta", "Gamma"])[0] == "delta, gamma"
    assert small.apply("a dog,", "", ["Alpha"])[0] == "alpha art, a dog, soft"


def test_random_style_is_seeded(library):
    picks = {seed: library.resolve_names([RANDOM_STYLE], seed) for seed in range(12)}
    assert all(len(pick) == 1 and pick[0] in library.names for pick in picks.values())
    assert picks == {seed: library.resolve_names([RANDOM_STYLE], seed) for seed in range(12)}
    assert len(set(picks.values())) >= 6
    assert library.apply("a cat", "", [RANDOM_STYLE], seed=5) == library.apply("a cat", "", list(picks[5]))


def test_random_style_never_repeats_a_chosen_style(small):
    for seed in range(20):
        names = small.resolve_names(["Alpha", RANDOM_STYLE, RANDOM_STYLE, RANDOM_STYLE], seed)
        assert names[0] == "Alpha" and sorted(names) == ["Alpha", "Beta", "Delta", "Gamma"]
    with pytest.raises(InvalidRequest, match="no style is left"):
        small.resolve_names([RANDOM_STYLE] * 5, 0)
    assert small.resolve_names(["Beta", "Beta"], 0) == ("Beta",)


def test_unknown_style_names_the_field(library):
    with pytest.raises(InvalidRequest) as caught:
        library.apply("a cat", "", ["Film Noir", "Nope"])
    assert caught.value.field == "styles"
    assert "'Nope' is not a style; see `python -m studio styles`" in str(caught.value)


def test_template_markdown(library):
    text = library.template_markdown("Film Noir")
    assert "**Film Noir**" in text and library.get("Film Noir").prompt in text
    assert RANDOM_STYLE in library.template_markdown(RANDOM_STYLE)
    assert "Film Noir" in library.search("noir 1940s") and library.search("zzzz-no-match") == ()


@pytest.mark.parametrize(
    "content, message",
    [
        ("[{", "bad.json: is not valid JSON"),
        ('{"name": "A"}', "bad.json: must hold a JSON list of styles"),
        ('["A"]', "bad.json: entry 0: must be an object"),
        ([style("A"), {"name": "B", "prompt": "{prompt}"}], "entry 1 ('B'): missing negative_prompt"),
        ([{**style("A"), "extra": 1}], "entry 0 ('A'): unknown extra"),
        ([style("A", "no placeholder")], "entry 0 ('A'): 'prompt' must contain {prompt} exactly once"),
        ([style("A", "{prompt} {prompt}")], "exactly once"),
        ([style("A", negative=3)], "'negative_prompt' must be a string"),
        ([style("")], "'name' must be non-empty"),
        ([style("A" * 61)], "at most 60"),
        ([style("A", "{prompt}" + "x" * 1000)], "'prompt' is 1008 characters"),
        ([style("Random style")], "is reserved"),
        ([style("Twin"), style("twin")], "style 'twin' has the same name"),
        ([style("Twin Peak"), style("twin-peak")], "file-name slug"),
    ],
)
def test_bad_style_files_give_clear_errors(tmp_path, content, message):
    write_styles(tmp_path, "bad", content)
    with pytest.raises(StyleError) as caught:
        StyleLibrary.load(tmp_path)
    assert message in str(caught.value) and str(tmp_path / "bad.json") in str(caught.value)


def test_duplicate_across_files_and_empty_folder(tmp_path):
    write_styles(tmp_path, "a", [style("Same")])
    write_styles(tmp_path, "b", [style("Same")])
    with pytest.raises(StyleError, match=r"b\.json: style 'Same' .* in a\.json"):
        StyleLibrary.load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StyleError, match="holds no styles"):
        StyleLibrary.load(tmp_path / "empty")
    with pytest.raises(StyleError, match="does not exist"):
        StyleLibrary.load(tmp_path / "missing")


def test_cli_lists_styles(library):
    command = [sys.executable, "-m", "studio", "styles"]
    done = subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [f"{s.family}\t{s.name}" for s in library.styles]


def test_style_previews_render_and_resume(tiny_services, library, tmp_path):
    out = tmp_path / "previews"
    only = ["Film Noir", "Watercolor Wash"]
    written = render_style_previews(
        tiny_services, library, out, seed=3, size=(32, 32), steps=2, only=only, progress=False
    )
    assert written == [preview_path(out, name) for name in only]
    assert sorted(p.name for p in out.iterdir()) == ["film-noir.webp", "watercolor-wash.webp"]  # no temporaries
    for path in written:
        assert Image.open(path).size == (32, 32)
    stamps = [path.stat().st_mtime_ns for path in written]
    assert (
        render_style_previews(tiny_services, library, out, seed=3, size=(32, 32), steps=2, only=only, progress=False)
        == []
    )
    assert [path.stat().st_mtime_ns for path in written] == stamps


def test_style_previews_command(models_dir, tmp_path, capsys):
    from studio.cli import main

    out = tmp_path / "thumbs"
    args = ["style-previews", "--model", "tiny", "--models-dir", str(models_dir), "--device", "cpu", "--out", str(out),
            "--size", "32x32", "--steps", "2", "--only", "Film Noir", "Pop Art"]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.split() == [str(preview_path(out, "Film Noir")), str(preview_path(out, "Pop Art"))]
    assert main(args) == 0
    assert capsys.readouterr().out == ""  # resumed: nothing left to render
    assert main([*args[:-2], "No Such Style"]) == 2
    assert "'No Such Style' is not a style" in capsys.readouterr().err
