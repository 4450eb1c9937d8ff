"""The checkpoint library (`<models-dir>/checkpoints/`) and requests that name their checkpoint: the engine
switches to it, the metadata records it, and every front end (API, UI, CLI) takes a name and nothing else."""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import replace

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image
from safetensors.torch import save_file

from studio.checkpoints import CheckpointLibrary
from studio.cli import main
from studio.engine import Engine
from studio.library_names import is_library_name
from studio.models import TINY_SIZE_LIMIT, ModelUnavailable, PipelineManager
from studio.outputs import OutputStore, read_request
from studio.services import build_services
from studio.settings import Settings
from studio.tiny import TINY_SEED, save_tiny_sdxl, save_tiny_single_file
from studio.types import GenerationRequest, InvalidRequest
from studio.ui.banner import banner_html
from studio.ui.events import load_handler
from studio.ui.fields import FIELD_NAMES, default_values, loadable_values
from studio.ui.layout import build_layout
from tests.serving_helpers import TOKEN, USERS, WAIT, api, serving

NAMES = ("broken", "second", "third")  # what the library lists, in order
REFUSED = ("../x", "/etc/passwd", "org/repo", "nope", "pickled", "notes", ".hidden", "tiny-sdxl", "second/unet")
REQUEST = GenerationRequest(
    prompt="a red cube on a table", seed=7, width=64, height=64, steps=2, cfg_scale=5.0, sampler="Euler"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A models folder whose checkpoints/ holds a diffusers folder, a single file, a file that is no SDXL
    checkpoint (not tiny: it has SDXL's sizes), and things that must not be listed."""
    root = tmp_path_factory.mktemp("library-models")
    folder = root / "checkpoints"
    save_tiny_sdxl(folder / "second", seed=TINY_SEED + 1)
    save_tiny_single_file(folder / "third.safetensors", seed=TINY_SEED + 2)
    save_file({"weight": torch.zeros(2)}, str(folder / "broken.safetensors"))
    (folder / "pickled.ckpt").write_bytes(b"not loaded, ever")
    (folder / "notes.txt").write_text("stray")
    (folder / ".hidden.safetensors").write_bytes(b"")
    (folder / "no-index").mkdir()
    (folder / "no-index" / "unet").mkdir()
    return root


def settings_for(root, model: str = "tiny", **kwargs) -> Settings:
    return Settings(model=model, models_dir=root, output_dir=root / "outputs", device="cpu", **kwargs)


def engine_for(root, model: str = "tiny") -> Engine:
    manager = PipelineManager(settings_for(root, model))
    manager.load()
    return Engine(manager)


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def reference(root):
    """REQUEST's pixels from a studio started on each model directly: `second` by its library name (as
    `--model second` gives it), `third` by its file's path."""
    sources = {"tiny": "tiny", "second": "second", "third": str(root / "checkpoints" / "third.safetensors")}
    made = {}
    for name, source in sources.items():
        engine = engine_for(root, source)
        assert engine.manager.info.name == name, "a library checkpoint is known by its library name"
        made[name] = pixels(engine.run(REQUEST).images[0].image)
    assert not np.array_equal(made["tiny"], made["second"]) and not np.array_equal(made["second"], made["third"])
    return made


@pytest.fixture(scope="module")
def engine(root):
    return engine_for(root)


@pytest.fixture
def loads(engine, monkeypatch):
    """The sources the engine's manager is asked to load, in order."""
    asked = []
    real = engine.manager._load_pipeline

    def spy(source, blame):
        asked.append(source)
        return real(source, blame)

    monkeypatch.setattr(engine.manager, "_load_pipeline", spy)
    return asked


def test_the_library_lists_safetensors_files_and_diffusers_folders_by_name_only(root, engine):
    library = CheckpointLibrary.in_models_dir(root)
    assert library.names() == NAMES
    assert library.find("second") == root / "checkpoints" / "second"
    assert library.find("third") == root / "checkpoints" / "third.safetensors"
    assert all(library.find(name) is None for name in REFUSED)
    assert engine.manager.available_models() == ("tiny", *NAMES), "the model the studio started with first"
    assert CheckpointLibrary(root / "missing").names() == ()
    # the one name rule, shared with the LoRA library
    assert all(map(is_library_name, ("juggernautXL_v9", "sd_xl_base_1.0", "my model (v2)+")))
    assert not any(map(is_library_name, ("..", "../x", "a/b", "a\\b", ".x", "x\n", "", None)))


def test_a_request_naming_a_checkpoint_switches_to_it_and_back(engine, reference, loads):
    for name in ("second", "third", "tiny", "second", ""):
        result = engine.run(replace(REQUEST, model=name))
        made_by = name or "second"  # '' = whatever is loaded
        assert engine.manager.info.name == made_by
        assert result.request.model == result.images[0].request.model == made_by, "the real model is recorded"
        assert np.array_equal(pixels(result.images[0].image), reference[made_by]), name
    assert len(loads) == 4, "a request naming the loaded model loads nothing"


def test_the_metadata_records_the_checkpoint_and_remakes_the_image(engine, reference, tmp_path):
    store = OutputStore(tmp_path)
    made = engine.run(replace(REQUEST, model="third", seed=11)).images[0]
    path = store.save(made.image, made.request).path
    engine.run(replace(REQUEST, model="tiny"))
    recorded = read_request(path)
    assert recorded.model == "third"
    again = engine.run(recorded).images[0]
    assert engine.manager.info.name == "third"
    assert np.array_equal(pixels(again.image), pixels(Image.open(path)))
    assert again.request == recorded


@pytest.mark.parametrize("name", [*REFUSED, "stabilityai/stable-diffusion-xl-base-1.0"])
def test_names_that_are_not_available_are_refused_before_any_load(engine, loads, name):
    before = engine.manager.info
    for check in (engine.validate, engine.run):
        with pytest.raises(InvalidRequest) as caught:
            check(replace(REQUEST, model=name))
        assert caught.value.field == "model" and "GET /v1/models lists what is" in caught.value.message
    assert loads == [] and engine.manager.info is before


def test_sizes_are_checked_against_the_named_model_without_loading_it(engine, reference, loads):
    assert engine.manager.info_for("second").size_limit == TINY_SIZE_LIMIT
    broken = engine.manager.info_for("broken")  # no tiny marker: an SDXL checkpoint's sizes
    assert not broken.random_weights and broken.default_size == (1024, 1024)
    with pytest.raises(InvalidRequest) as caught:
        engine.validate(replace(REQUEST, model="broken"))  # 64x64 is a tiny size, not an SDXL one
    assert caught.value.field == "width" and loads == []
    engine.run(replace(REQUEST, model="tiny"))
    with pytest.raises(ModelUnavailable, match="broken"):  # it is read when a job needs it, and fails there
        engine.run(replace(REQUEST, model="broken", width=1024, height=1024, steps=1))
    assert engine.manager.info.name == "tiny", "a failing switch leaves the loaded model"
    assert np.array_equal(pixels(engine.run(REQUEST).images[0].image), reference["tiny"])


def test_load_parameters_chooses_an_available_checkpoint_and_warns_about_others(engine):
    info = engine.manager.info_for("tiny")
    available = engine.manager.available_models()
    values, warnings = loadable_values(replace(REQUEST, model="second"), info, (), available)
    assert values["model"] == "second" and warnings == []
    values, warnings = loadable_values(replace(REQUEST, model="gone-model"), info, (), available)
    assert "model" not in values and len(warnings) == 1 and "gone-model" in warnings[0]


# --- front ends -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_library(root):
    """The served app (API + UI) on the tiny model, with this module's checkpoints, auth on."""
    services = build_services(settings_for(root, auth_users=USERS, api_tokens=(TOKEN,)))
    with serving(services) as (app, url):
        yield app, url, services


def test_api_lists_the_checkpoints_and_generates_with_one(served_library, reference):
    _, url, services = served_library
    body = REQUEST.to_dict()
    with api(url) as client:
        listed = client.get("/v1/models").json()
        assert [(m["name"], m["loaded"]) for m in listed] == [("tiny", True), *((name, False) for name in NAMES)]
        assert {m["name"]: m["default_size"] for m in listed}["broken"] == [1024, 1024]
        for bad in ("nope", "../x", "/etc/passwd", "org/repo", 5):
            reply = client.post("/v1/generate", json={**body, "model": bad})
            assert reply.status_code == 422 and reply.json()["error"]["field"] == "model", bad
        job = client.post("/v1/generate", json={**body, "model": "second"}).json()
        assert job["request"]["model"] == "second"
        done = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert done["state"] == "done" and done["images"][0]["request"]["model"] == "second"
        png = client.get(done["images"][0]["url"]).content
        assert np.array_equal(pixels(Image.open(io.BytesIO(png))), reference["second"])
        assert [m["name"] for m in client.get("/v1/models").json() if m["loaded"]] == ["second"]
        assert services.manager.info.name == "second"
        schema = client.get("/v1/openapi.json").json()["paths"]["/v1/generate"]["post"]["requestBody"]
        assert "GET /v1/models" in schema["content"]["application/json"]["schema"]["properties"]["model"]["description"]


def test_ui_base_model_dropdown_lists_the_checkpoints_and_generate_switches(served_library, reference):
    _, url, services = served_library
    client = Client(url, auth=USERS[1], verbose=False)
    dropdown = next(c["props"] for c in client.config["components"] if c["props"].get("elem_id") == "studio-model")
    assert [value for _label, value in dropdown["choices"]] == list(services.manager.available_models())
    values = {**default_values(services.manager.info_for("tiny")), "prompt": "ui", "seed": "7", "random_seed": False}
    values.update(aspect_ratio="64x64", steps=2, cfg_scale=5.0, sampler="Euler", model="third")
    _, summary, _, _gallery = client.predict(*[values[name] for name in FIELD_NAMES], api_name="/ui_generate")
    assert summary.startswith("Done: 1 of 1"), summary
    assert services.manager.info.name == "third"
    assert services.store.space(f"user:{USERS[1][0]}").history(1)[0].request.model == "third"
    assert "<b>third</b>" in banner_html(services.manager.info)  # the job's last update and page loads show it
    # the programs' /generate endpoint takes a checkpoint's name too
    made = client.predict(prompt="api", seed=7, width=64, height=64, steps=2, model="second", api_name="/generate")
    assert made["request"]["model"] == "second" and services.manager.info.name == "second"
    with pytest.raises(Exception, match="model"):
        client.predict(prompt="api", width=64, height=64, steps=2, model="../x", api_name="/generate")


def test_load_parameters_sets_the_dropdown_to_the_recorded_checkpoint(served_library, root, tmp_path):
    _, _, services = served_library
    with gr.Blocks():
        widgets = build_layout(services)
    store, dropdown = OutputStore(tmp_path), widgets.settings["model"]
    made = store.save(Image.new("RGB", (64, 64)), replace(REQUEST, model="second")).path
    assert load_handler(services, widgets)(made)[dropdown] == "second"
    added = root / "checkpoints" / "fourth.safetensors"  # after the page was built: the choices are re-listed
    save_tiny_single_file(added, seed=TINY_SEED + 3)
    try:
        made = store.save(Image.new("RGB", (64, 64)), replace(REQUEST, model="fourth")).path
        update = load_handler(services, widgets)(made)[dropdown]
        assert update["value"] == "fourth" and "fourth" in update["choices"]
    finally:
        added.unlink()


def test_cli_generate_and_models_take_library_names(root, reference, tmp_path, capsys):
    common = ["--models-dir", str(root), "--device", "cpu"]
    assert main(["models", "--model", "tiny", *common]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["tiny", *NAMES]
    code = main(["generate", "--model", "second", *common, "--prompt", REQUEST.prompt, "--seed", "7", "--size",
                 "64x64", "--steps", "2", "--cfg", "5", "--sampler", "Euler", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    path = json.loads(capsys.readouterr().out)["path"]
    assert read_request(path).model == "second"
    assert np.array_equal(pixels(Image.open(path)), reference["second"])


def test_a_studio_started_on_a_library_name_lists_it_once(root):
    manager = PipelineManager(dataclasses.replace(settings_for(root), model="third"))
    manager.load()
    assert manager.info.name == "third" and manager.available_models() == ("third", "broken", "second")


def test_page_load_and_refresh_list_checkpoints_added_since_the_app_was_built(served_library, root):
    app, _, services = served_library
    dropdown = next(b for b in app.blocks.blocks.values() if getattr(b, "elem_id", None) == "studio-model")
    relisting = [
        fn for fn in app.blocks.fns.values()
        if dropdown in fn.outputs and {event for _block, event in fn.targets} & {"load", "click"}
    ]  # fmt: skip
    assert {event for fn in relisting for _block, event in fn.targets} == {"load", "click"}
    added = root / "checkpoints" / "fifth.safetensors"
    save_tiny_single_file(added, seed=TINY_SEED + 4)
    try:
        for fn in relisting:  # inputs and outputs by widget: the page load also updates banner and sizes
            values = {"studio-model": services.manager.info.name, "studio-aspect-ratio": "64x64"}
            updates = fn.fn(*[values.get(block.elem_id, "None") for block in fn.inputs])
            by_id = {block.elem_id: update for block, update in zip(fn.outputs, updates)}
            model_update = by_id["studio-model"]
            assert "fifth" in model_update["choices"] and model_update["value"] == services.manager.info.name
            loras = [update for elem_id, update in by_id.items() if elem_id and elem_id.startswith("studio-lora")]
            assert len(loras) == 5 and all(update["value"] == "None" for update in loras)
    finally:
        added.unlink()
