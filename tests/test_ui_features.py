"""The side tabs' handlers on the tiny model: presets, styles, Expand, and the sampler comparison."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

import gradio as gr
import pytest
from PIL import Image

from studio.engine import Engine
from studio.expansion.factory import ExpanderCache
from studio.expansion.settings import ExpansionSettings
from studio.outputs import read_request
from studio.presets import Preset, load_presets
from studio.style_previews import default_preview_dir, preview_path
from studio.tiny import save_tiny_gpt2
from studio.types import GUIDANCE_FIELDS, InvalidRequest, LoraWeight
from studio.ui.compare_tab import compare_handler
from studio.ui.extra_events import expand_handler, preset_handler
from studio.ui.fields import FIELD_NAMES, default_values, request_from_values
from studio.ui.guard import guarded
from studio.ui.layout import build_layout
from studio.ui.preset_fields import preset_widget_values
from studio.ui.session import Session
from studio.ui.style_picker import NO_PREVIEWS_NOTE, filtered_choices, preview_items, style_choices


def test_a_preset_sets_exactly_its_fields(tiny_services):
    info = tiny_services.manager.info
    current = {**default_values(info), "prompt": "kept", "seed": "99", "random_seed": False, "image_count": 3}
    preset = Preset(
        "tiny-portrait", "", "", MappingProxyType(
            {"steps": 12, "sampler": "DDIM", "width": 56, "height": 72, "loras": (LoraWeight("mine", 0.4),)}
        ),
    )  # fmt: skip
    values, warnings = preset_widget_values(preset, info, lora_names=("mine",))
    assert warnings == []
    before = request_from_values(current, info)
    after = request_from_values({**current, **values}, info)
    assert after == preset.apply(before), "the widgets make what applying the preset to the request makes"
    assert (after.prompt, after.seed, after.image_count, after.cfg_scale) == ("kept", 99, 3, before.cfg_scale)

    # a size the model does not offer, and a LoRA the folder lacks: left as they are, with warnings
    anime = load_presets()["anime"]
    values, warnings = preset_widget_values(anime, info, lora_names=())
    assert "aspect_ratio" not in values and any("does not offer" in w for w in warnings)
    assert set(values) == {"performance", "steps", "cfg_scale", "sampler", "negative_prompt", "styles"} | {
        name for name in FIELD_NAMES if name.startswith("lora_")
    } | set(GUIDANCE_FIELDS)


def test_choosing_a_preset_with_an_absent_model_warns_and_keeps_the_loaded_one(tiny_services):
    with gr.Blocks():
        widgets = build_layout(tiny_services)
    loaded = tiny_services.manager.info
    with pytest.warns(UserWarning) as caught:
        updates = preset_handler(tiny_services, widgets)("anime")
    messages = [str(w.message) for w in caught]
    assert any("cagliostrolab/animagine-xl-3.1" in m and "not available" in m for m in messages)
    assert tiny_services.manager.info == loaded, "the tiny model stays loaded"
    changed = {name for name, widget in widgets.settings.items() if widget in updates}
    assert changed == set(preset_widget_values(load_presets()["anime"], loaded, ())[0])
    assert "prompt" not in changed and "seed" not in changed and "aspect_ratio" not in changed
    assert updates[widgets.settings["steps"]] == 28 and updates[widgets.settings["sampler"]] == "Euler a"


def test_style_picker_orders_by_family_filters_and_finds_previews(tiny_services, tmp_path):
    library = tiny_services.engine.libraries.styles
    choices = style_choices(library)
    assert choices[0] == ("Random style", "Random style") and len(choices) == len(library.names) + 1
    families = [library.get(value).family for _, value in choices[1:]]
    assert families == sorted(families)
    narrowed = [value for _, value in filtered_choices(library, "noir", ["Watercolor Wash"])]
    assert "Film Noir" in narrowed and "Watercolor Wash" in narrowed and len(narrowed) < 10
    assert preview_items(library, tmp_path, ["Film Noir"], "") == [] and "style-previews" in NO_PREVIEWS_NOTE
    folder = default_preview_dir(tmp_path, "tiny")
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(preview_path(folder, "Film Noir"))
    assert preview_items(library, folder, [], "noir") == [(str(preview_path(folder, "Film Noir")), "Film Noir")]


@pytest.fixture(scope="module")
def expanding_services(tiny_services, tmp_path_factory):
    folder = save_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny-gpt2")
    expanders = ExpanderCache(ExpansionSettings(local_model=str(folder)), folder.parent, offline=True)
    engine = Engine(tiny_services.manager, replace(tiny_services.engine.libraries, expanders=expanders))
    return replace(tiny_services, engine=engine)


def test_expand_shows_the_seeded_expansion_and_its_text_is_what_generate_uses(expanding_services, tmp_path):
    info = expanding_services.manager.info
    values = {"prompt": "a red cube", "expansion": "local", "seed": "7", "random_seed": False}
    expand = guarded("Expand", expand_handler(expanding_services))  # as it is wired
    shown = expand(**values)
    assert shown.startswith("a red cube, ") and len(shown) > len("a red cube, ")
    assert expand(**values) == shown, "one seed, one expansion"
    assert expand(**{**values, "seed": "8"}) != shown
    request = request_from_values({**values, "expanded_prompt": shown + ", edited"}, info)
    assert (request.prompt, request.expansion) == (shown + ", edited", "none")

    with pytest.warns(UserWarning, match=r"Local, LLM or Local \(instruct\)"):
        assert isinstance(expand(**{**values, "expansion": "none"}), dict)  # gr.skip(): the box is left alone
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    broken = ExpanderCache(ExpansionSettings(local_model=str(empty)), tmp_path, offline=True)
    engine = Engine(expanding_services.manager, replace(expanding_services.engine.libraries, expanders=broken))
    with pytest.warns(UserWarning):
        assert isinstance(guarded("Expand", expand_handler(replace(expanding_services, engine=engine)))(**values), dict)


def test_compare_samplers_handler_makes_the_grid_table_and_files(tiny_services):
    values = {"prompt": "a red cube", "seed": "11", "random_seed": False, "aspect_ratio": "32x32", "cfg_scale": 5.0}
    session = Session()
    updates = list(compare_handler(tiny_services)(session, ["DDIM", "Euler a"], "2, 1", **values))
    assert updates[0]["seed"] == "11" and updates[0]["stop"] is True
    assert any(u.get("progress", "").startswith("Cell 1/4") for u in updates[1:-1])
    final = updates[-1]
    assert final["progress"].startswith("Done: 4 of 4 cells")
    grid = final["grid"]
    assert grid.width > 2 * 32 and grid.height > 2 * 32
    assert [row[:2] for row in final["table"]] == [["DDIM", 1], ["DDIM", 2], ["Euler a", 1], ["Euler a", 2]]
    assert "DDIM" in final["verdicts"] and session.comparison is None
    assert str(tiny_services.store.root) not in final["progress"], "the page never shows a server path"
    folder = tiny_services.store.root / final["progress"].split("`")[1]
    assert {"grid.png", "chart.png", "metrics.json", "metrics.csv"} <= {p.name for p in folder.iterdir()}
    metrics = json.loads((folder / "metrics.json").read_text())
    for cell in metrics["cells"]:
        recorded = read_request(cell["path"])
        assert (recorded.seed, recorded.width, recorded.sampler, recorded.steps) == (
            11,
            32,
            cell["sampler"],
            cell["steps"],
        )
    with pytest.raises(InvalidRequest, match="samplers"):
        list(compare_handler(tiny_services)(Session(), [], "1,2", **values))


def test_stop_ends_the_comparison_keeping_the_finished_cells(tiny_services):
    values = {"prompt": "a blue cube", "seed": "12", "random_seed": False, "aspect_ratio": "32x32"}
    session = Session()
    updates = []
    for update in compare_handler(tiny_services)(session, ["DDIM", "Euler"], "1,60", **values):
        updates.append(update)
        if update.get("progress", "").startswith("Cell 1/4 done"):
            session.comparison.stop()  # what the Stop button does
    final = updates[-1]
    assert final["progress"].startswith("Stopped: 1 of 4 cells")
    assert [row[:2] for row in final["table"]] == [] and final["grid"] is not None and final["chart"] is None
    assert session.comparison is None


def test_app_preset_sets_the_starting_values(tiny_services):
    import dataclasses

    import gradio as gr

    from studio.presets import get_preset
    from studio.ui.layout import build_layout

    services = dataclasses.replace(tiny_services, settings=dataclasses.replace(tiny_services.settings, preset="lightning"))
    with gr.Blocks():
        widgets = build_layout(services)
    preset = get_preset("lightning")
    assert widgets.settings["performance"].value == preset.settings["performance"]
    assert widgets.settings["steps"].value == preset.settings["steps"]
    assert widgets.extras["preset"].value == "lightning"
