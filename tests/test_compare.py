"""Sampler comparison on the tiny model: cells are normal generations, grid layout, convergence, cancel, CLI."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.compare import ComparisonRequest, fit_floor, run_comparison, ssim, validate_comparison, write_comparison
from studio.compare_render import GridLayout, render_grid
from studio.jobs import JobControl
from studio.outputs import OutputStore, read_request
from studio.types import GenerationRequest, InvalidRequest

SIZE = 32
STEPS = (4, 8, 16, 32)  # step counts that divide 1000 evenly or nearly: the SDXL "leading" schedule stays monotone


@pytest.fixture(scope="module")
def base():
    return GenerationRequest(
        prompt="a red cube on a table", seed=7, width=SIZE, height=SIZE, cfg_scale=5.0, model="tiny"
    )


@pytest.fixture(scope="module")
def comparison(tiny_services, base, tmp_path_factory):
    store = OutputStore(tmp_path_factory.mktemp("compare"))
    return run_comparison(tiny_services.engine, ComparisonRequest(base, ("DDIM", "Euler a"), STEPS), store=store)


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("sampler, steps", [("DDIM", 16), ("Euler a", 8)])
def test_cell_is_the_standalone_generation_and_remakes_itself(tiny_services, base, comparison, sampler, steps):
    cell = comparison.cell(sampler, steps)
    alone = tiny_services.engine.run(replace(base, sampler=sampler, steps=steps)).images[0]
    assert same_pixels(cell.image, alone.image)
    assert cell.request == alone.request
    saved = read_request(cell.path)
    assert saved == cell.request
    assert same_pixels(Image.open(cell.path).convert("RGB"), alone.image)


def test_grid_has_one_labelled_cell_per_sampler_and_step_count(comparison):
    grid = render_grid(comparison)
    layout = GridLayout(rows=2, columns=len(STEPS), cell_width=SIZE, cell_height=SIZE)
    assert (
        grid.size
        == layout.size
        == (layout.label_width + 4 * SIZE, layout.header_height + 2 * (SIZE + layout.caption_height))
    )
    pixels = np.asarray(grid)
    for row, sampler in enumerate(("DDIM", "Euler a")):
        for column, steps in enumerate(STEPS):
            x, y = layout.cell_origin(row, column)
            assert np.array_equal(pixels[y : y + SIZE, x : x + SIZE], np.asarray(comparison.cell(sampler, steps).image))
            caption = pixels[y + SIZE : y + SIZE + layout.caption_height, x : x + SIZE]
            assert (caption < 200).any(), "each cell is captioned with its time"
        label = pixels[y : y + SIZE + layout.caption_height, : layout.label_width]
        assert (label < 100).any(), f"row {sampler} has a label"
    for column in range(len(STEPS)):
        x, _ = layout.cell_origin(0, column)
        assert (pixels[: layout.header_height, x : x + SIZE] < 100).any(), "each column is labelled with its steps"


def test_ode_sampler_converges_and_ancestral_does_not(comparison):
    ddim, ancestral = comparison.convergence_of("DDIM"), comparison.convergence_of("Euler a")
    assert ddim.steps == STEPS
    distances = ddim.pixel_mad_to_final
    assert all(a > b for a, b in itertools.pairwise(distances)) and distances[-1] == 0
    assert all(a > b for a, b in itertools.pairwise(ddim.latent_mad_to_final))
    assert ddim.ssim_to_final[-1] == pytest.approx(1.0) and ddim.ssim_to_final[0] < ddim.ssim_to_final[-2]
    assert ddim.convergent is True and ddim.relative_floor < 0.05
    assert ancestral.convergent is False and ancestral.relative_floor > 0.2
    # the ancestral sampler is still far from its largest-step image at the second-largest step count
    assert ancestral.pixel_mad_to_final[-2] > 5 * distances[-2]


def test_rerun_gives_identical_cells_and_encodes_the_prompt_once(tiny_services, base, monkeypatch):
    import studio.engine

    engine, calls, encode = tiny_services.engine, [], studio.engine.encode_prompts
    monkeypatch.setattr(studio.engine, "encode_prompts", lambda *a, **k: calls.append(1) or encode(*a, **k))
    request = ComparisonRequest(base, ("Euler", "Euler a"), (3, 2))
    first, second = run_comparison(engine, request), run_comparison(engine, request)
    assert len(calls) == 2, "one prompt encoding per grid"
    assert [(c.sampler, c.steps) for c in first.cells] == [("Euler", 2), ("Euler", 3), ("Euler a", 2), ("Euler a", 3)]
    assert all(
        same_pixels(a.image, b.image) and np.array_equal(a.latents, b.latents)
        for a, b in zip(first.cells, second.cells)
    )
    assert [m.to_dict() for m in first.convergence] == [m.to_dict() for m in second.convergence]


def test_stop_mid_grid_keeps_the_finished_cells_saved(tiny_services, base, tmp_path):
    control, events, done = JobControl(), [], []

    def progress(event):
        events.append((event.image_index, event.image_count, event.step))
        if event.image_index == 2 and event.step == 1:
            control.stop()

    store = OutputStore(tmp_path)
    request = ComparisonRequest(base, ("DDIM", "Euler a"), (2, 3))
    result = run_comparison(
        tiny_services.engine, request, store=store, on_cell=done.append, on_progress=progress, control=control
    )
    assert result.stopped
    assert [(c.sampler, c.steps) for c in result.cells] == [("DDIM", 2), ("DDIM", 3)]
    assert [(d.index, d.count) for d in done] == [(0, 4), (1, 4)]
    assert events[:5] == [(0, 4, 1), (0, 4, 2), (1, 4, 1), (1, 4, 2), (1, 4, 3)]
    saved = sorted(read_request(record.path).steps for record in store.history())
    assert saved == [2, 3]
    grid = render_grid(result)  # unmade cells are drawn as placeholders
    assert grid.size == GridLayout(2, 2, SIZE, SIZE).size


def test_write_comparison_files(comparison, tmp_path):
    paths = write_comparison(comparison, tmp_path)
    metrics = json.loads(Path(paths["metrics"]).read_text())
    assert {m["sampler"]: m["convergent"] for m in metrics["convergence"]} == {"DDIM": True, "Euler a": False}
    rows = list(csv.DictReader(Path(paths["csv"]).read_text().splitlines()))
    assert [(r["sampler"], int(r["steps"])) for r in rows] == [(s, n) for s in ("DDIM", "Euler a") for n in STEPS]
    assert Image.open(paths["filmstrip:DDIM"]).size == GridLayout(1, len(STEPS), SIZE, SIZE).size
    assert Image.open(paths["chart"]).width > 400


def test_ssim_is_one_for_identical_images_and_falls_with_noise():
    rng = np.random.default_rng(0)
    image = rng.random((40, 40, 3))
    assert ssim(image, image) == pytest.approx(1.0)
    slightly, very = np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1), rng.random((40, 40, 3))
    assert 1.0 > ssim(image, slightly) > ssim(image, very)


@pytest.mark.parametrize(
    "samplers, steps, field_name",
    [
        (("DDIM", "Fastest"), (2, 4), "samplers"),
        (("DDIM",) * 2, (2, 4), "samplers"),
        (
            ("DDIM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "UniPC", "Heun", "LMS", "DPM++ SDE Karras"),
            (2,),
            "samplers",
        ),
        (("DDIM",), tuple(range(1, 14)), "step_counts"),
        (("DDIM",), (0, 4), "step_counts"),
        (("DDIM",), (), "step_counts"),
        (("DDIM",), (2, 4), "performance"),
    ],
)
def test_bad_comparisons_are_refused_naming_the_field(base, samplers, steps, field_name):
    if field_name == "performance":
        base = replace(base, performance="Lightning")
    with pytest.raises(InvalidRequest) as error:
        validate_comparison(ComparisonRequest(base, samplers, steps), size_limit=None)
    assert error.value.field == field_name


def test_cli_compare_writes_grid_cells_and_metrics(tmp_path, models_dir, capsys):
    out = tmp_path / "out"
    code = main(["compare", "--model", "tiny", "--models-dir", str(models_dir), "--prompt", "a lighthouse",
                 "--samplers", "DDIM, Euler a", "--steps", "3,2", "--seed", "11", "--size", "32x32", "--cfg", "4",
                 "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Image.open(summary["grid"]).size == GridLayout(2, 2, 32, 32).size
    assert len(summary["cells"]) == 4 and all(Path(p).parent.parent == out for p in summary["cells"])
    remade = {(r.sampler, r.steps, r.seed, r.cfg_scale, r.model) for r in map(read_request, summary["cells"])}
    assert remade == {(s, n, 11, 4.0, "tiny") for s in ("DDIM", "Euler a") for n in (2, 3)}
    assert json.loads(Path(summary["metrics"]).read_text())["step_counts"] == [2, 3]
    assert len(Path(summary["csv"]).read_text().splitlines()) == 5
    assert set(summary["convergent"]) == {"DDIM", "Euler a"}


@pytest.mark.parametrize(
    "args, field_name",
    [(["--samplers", "DDIM,Fastest"], "samplers"), (["--steps", ",".join(map(str, range(1, 14)))], "step_counts"),
     (["--steps", "10,x"], "step_counts")],
)  # fmt: skip
def test_cli_compare_bad_input_exits_2_naming_the_field(tmp_path, models_dir, capsys, args, field_name):
    code = main(
        [
            "compare",
            "--model",
            "tiny",
            "--models-dir",
            str(models_dir),
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            *args,
        ]
    )
    assert code == 2
    assert f"{field_name}:" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_floor_fit_tells_a_vanishing_distance_from_a_lasting_one():
    steps = (10, 20, 40, 80)
    vanishing = tuple(0.2 * (1 / n - 1 / 80) for n in steps)
    lasting = tuple(0.03 + 0.2 * (1 / n - 1 / 80) if n < 80 else 0.0 for n in steps)
    assert fit_floor(steps, vanishing) == pytest.approx(0.0, abs=1e-9)
    assert fit_floor(steps, lasting) == pytest.approx(0.03)
    assert fit_floor((10, 20), (0.1, 0.0)) is None


def test_two_ui_comparisons_with_one_seed_in_one_second_get_their_own_folders(tmp_path):
    from datetime import datetime

    from studio.ui.comparison import comparison_folder

    when = datetime(2026, 12, 3, 7, 0, 0)
    first, second = comparison_folder(tmp_path, 7, when), comparison_folder(tmp_path, 7, when)
    assert first != second and first.is_dir() and second.is_dir()
