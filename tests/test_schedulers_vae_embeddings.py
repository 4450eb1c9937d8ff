"""Issue 15B: the scheduler apart from the sampler (with DPM++ 3M SDE), VAE choice, textual-inversion
embeddings and the refiner: each one's effect, neutral defaults that leave today's images byte for byte, bad names refused
naming their field, and the metadata round trip; through the engine, the CLI, the UI's fields and the API."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from studio.schedulers import SAMPLER_NAMES, SCHEDULE_NAMES, build_scheduler
from studio.types import GenerationRequest, InvalidRequest

VAE = "tinyvae"
EMBEDDING = "tinyemb"
REFINER = "tiny-refiner"


@pytest.fixture(scope="module")
def files(models_dir):
    """A tiny VAE (original layout), one that fits no tiny model, a two-vector SDXL embedding and a second tiny
    checkpoint (other weights) for the refiner; removed afterwards, as the models folder is the session's."""
    import shutil

    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from studio.tiny import save_tiny_sdxl
    from studio.tiny.vae_embedding import save_tiny_embedding, save_tiny_vae

    save_tiny_vae(models_dir / "vae" / f"{VAE}.safetensors")
    other = AutoencoderKL(block_out_channels=(32, 32, 64), down_block_types=("DownEncoderBlock2D",) * 3,
                          up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4)  # fmt: skip
    save_file(other.state_dict(), str(models_dir / "vae" / "misfit.safetensors"))
    save_tiny_embedding(models_dir / "embeddings" / f"{EMBEDDING}.safetensors")
    save_tiny_sdxl(models_dir / "checkpoints" / REFINER, seed=1)
    yield models_dir
    for folder in ("vae", "embeddings", f"checkpoints/{REFINER}"):
        shutil.rmtree(models_dir / folder, ignore_errors=True)


def pixels(engine, request) -> np.ndarray:
    return np.asarray(engine.run(request).images[0].image).astype(int)


# -- scheduler -------------------------------------------------------------------------------------------------


def test_default_scheduler_builds_exactly_the_samplers_own_settings(tiny_services):
    config = tiny_services.manager.base_scheduler_config
    for sampler in SAMPLER_NAMES:
        own = build_scheduler(sampler, config, 7)
        assert dict(build_scheduler(sampler, config, 7, "default").config) == dict(own.config), sampler


def test_a_scheduler_replaces_the_schedule_the_sampler_name_carried(tiny_services):
    config = tiny_services.manager.base_scheduler_config
    exponential = build_scheduler("DPM++ 2M SDE Karras", config, 7, "exponential").config
    assert exponential.use_exponential_sigmas and not exponential.use_karras_sigmas
    assert exponential.algorithm_type == "sde-dpmsolver++"  # the sampler itself stays
    assert build_scheduler("Euler trailing", config, 7, "karras").config.timestep_spacing == config.timestep_spacing
    third_order = build_scheduler("DPM++ 3M SDE", config, 7).config
    assert third_order.solver_order == 3 and third_order.algorithm_type == "sde-dpmsolver++"


def test_a_speed_lora_mode_forces_its_samplers_own_schedule(tiny_request):
    from studio.performance import apply_performance

    forced = apply_performance(replace(tiny_request, performance="Lightning", scheduler="karras"))
    assert (forced.sampler, forced.scheduler) == ("Euler trailing", "default")
    assert apply_performance(replace(tiny_request, scheduler="karras")).scheduler == "karras"


def test_scheduler_changes_the_image_and_naming_the_samplers_own_changes_nothing(tiny_services, tiny_request):
    engine = tiny_services.engine
    euler = replace(tiny_request, steps=4)
    assert not np.array_equal(pixels(engine, euler), pixels(engine, replace(euler, scheduler="karras")))
    sde_karras = replace(tiny_request, sampler="DPM++ 2M SDE Karras", steps=4)
    same = pixels(engine, sde_karras)
    assert np.array_equal(same, pixels(engine, replace(sde_karras, scheduler="karras")))
    assert not np.array_equal(same, pixels(engine, replace(sde_karras, scheduler="sgm_uniform")))


def test_dpmpp_3m_sde_differs_from_2m(tiny_services, tiny_request):
    request = replace(tiny_request, sampler="DPM++ 2M SDE Karras", scheduler="default", steps=6)
    two = pixels(tiny_services.engine, request)
    three = pixels(tiny_services.engine, replace(request, sampler="DPM++ 3M SDE", scheduler="karras"))
    assert not np.array_equal(two, three)


@pytest.mark.parametrize(
    "changes, field",
    [({"sampler": "Euler a", "scheduler": "karras"}, "scheduler"), ({"scheduler": "linear"}, "scheduler"),
     ({"vae": "nope"}, "vae"), ({"vae": "../vae/tinyvae"}, "vae"), ({"prompt": "a embedding:nope"}, "prompt"),
     ({"negative_prompt": "(embedding:nope:1.2)"}, "negative_prompt")],
)  # fmt: skip
def test_bad_names_are_refused_naming_the_field(tiny_services, tiny_request, files, changes, field):
    with pytest.raises(InvalidRequest) as error:
        tiny_services.engine.validate(replace(tiny_request, **changes))
    assert error.value.field == field


# -- VAE ---------------------------------------------------------------------------------------------------------


def test_vae_changes_the_image_is_loaded_once_and_the_own_one_comes_back(tiny_services, tiny_request, files):
    engine = tiny_services.engine
    before = pixels(engine, tiny_request)
    chosen = pixels(engine, replace(tiny_request, vae=VAE))
    assert np.abs(chosen - before).mean() > 1.0
    loaded = engine.vaes._loaded[VAE]
    assert np.array_equal(chosen, pixels(engine, replace(tiny_request, vae=VAE)))
    assert engine.vaes._loaded[VAE] is loaded  # resident: not read again
    assert np.array_equal(before, pixels(engine, tiny_request))  # '' is the checkpoint's own again


def test_vae_is_used_by_derived_pipelines_too(tiny_services, tiny_request, files):
    """Vary (img2img) encodes and decodes with the chosen VAE."""
    from studio.edit_spec import EditSpec

    digest = tiny_services.engine.inputs.put(Image.new("RGB", (64, 64), (200, 40, 40)))
    vary = replace(tiny_request, edit=EditSpec(kind="vary", image=digest))
    assert not np.array_equal(pixels(tiny_services.engine, vary), pixels(tiny_services.engine, replace(vary, vae=VAE)))


def test_a_vae_that_does_not_fit_the_checkpoint_is_refused_naming_vae(tiny_services, tiny_request, files):
    with pytest.raises(InvalidRequest) as error:
        tiny_services.engine.run(replace(tiny_request, vae="misfit"))
    assert error.value.field == "vae" and "do not fit" in error.value.message


# -- embeddings --------------------------------------------------------------------------------------------------


def test_embedding_changes_the_conditioning_and_its_weight_counts(tiny_services, tiny_request, files):
    engine = tiny_services.engine
    plain = pixels(engine, tiny_request)
    named = pixels(engine, replace(tiny_request, prompt=f"{tiny_request.prompt}, embedding:{EMBEDDING}"))
    weighted = pixels(engine, replace(tiny_request, prompt=f"{tiny_request.prompt}, (embedding:{EMBEDDING}:1.6)"))
    assert not np.array_equal(plain, named) and not np.array_equal(named, weighted)
    assert np.array_equal(plain, pixels(engine, tiny_request))  # loaded tokens leave other prompts as they were


def test_embedding_vectors_reach_both_text_encoders(tiny_services, files):
    from safetensors.torch import load_file

    pipeline = tiny_services.manager.pipeline
    text = tiny_services.engine.embeddings.prompt_text(pipeline, f"a embedding:{EMBEDDING}.")
    tokens = text.split()[1:]
    assert len(tokens) == 2 and text.endswith(".")  # two vectors; the full stop stays text
    vectors = load_file(str(files / "embeddings" / f"{EMBEDDING}.safetensors"))
    for tokenizer, encoder, key in ((pipeline.tokenizer, pipeline.text_encoder, "clip_l"),
                                    (pipeline.tokenizer_2, pipeline.text_encoder_2, "clip_g")):  # fmt: skip
        ids = tokenizer(text.split(" ", 1)[1], add_special_tokens=False).input_ids[:2]
        rows = encoder.get_input_embeddings().weight[ids]
        assert np.allclose(rows.detach().float().numpy(), vectors[key].numpy())


# -- refiner -----------------------------------------------------------------------------------------------------


def test_refiner_changes_the_image_and_switch_one_or_none_changes_nothing(tiny_services, tiny_request, files):
    engine = tiny_services.engine
    request = replace(tiny_request, steps=4)
    base = pixels(engine, request)
    refined = pixels(engine, replace(request, refiner=REFINER))
    assert not np.array_equal(base, refined)
    assert np.array_equal(refined, pixels(engine, replace(request, refiner=REFINER)))  # reproducible
    earlier = pixels(engine, replace(request, refiner=REFINER, refiner_switch=0.5))
    assert np.abs(earlier - base).mean() > np.abs(refined - base).mean()  # more steps refined, further from base
    assert np.array_equal(base, pixels(engine, replace(request, refiner=REFINER, refiner_switch=1.0)))
    assert np.array_equal(base, pixels(engine, request))  # the base model stayed as it was
    assert not np.array_equal(base, pixels(engine, replace(request, refiner=REFINER, sampler="DPM++ 2M SDE Karras")))


@pytest.mark.parametrize(
    "changes, field",
    [({"refiner": "nope"}, "refiner"), ({"refiner": "../checkpoints/x"}, "refiner"),
     ({"refiner": REFINER, "refiner_switch": 0.0}, "refiner_switch"),
     ({"refiner": REFINER, "edit": "vary"}, "refiner")],
)  # fmt: skip
def test_bad_refiner_requests_are_refused_naming_the_field(tiny_services, tiny_request, files, changes, field):
    from studio.edit_spec import EditSpec

    if changes.get("edit"):
        digest = tiny_services.engine.inputs.put(Image.new("RGB", (64, 64), (10, 90, 200)))
        changes = {**changes, "edit": EditSpec(kind="vary", image=digest)}
    with pytest.raises(InvalidRequest) as error:
        tiny_services.engine.validate(replace(tiny_request, **changes))
    assert error.value.field == field


# -- neutral defaults, metadata, front ends -----------------------------------------------------------------------


def test_an_old_request_without_the_fields_remakes_byte_for_byte(tiny_services, tiny_request, store):
    old = {k: v for k, v in tiny_request.to_dict().items() if k not in ("scheduler", "vae", "refiner", "refiner_switch")}
    assert GenerationRequest.from_dict(old) == tiny_request
    saved = store.save(tiny_services.engine.run(tiny_request).images[0].image, tiny_request)
    remade = pixels(tiny_services.engine, GenerationRequest.from_dict(old))
    assert np.array_equal(remade, np.asarray(Image.open(saved.path).convert("RGB")).astype(int))


def test_metadata_round_trip_remakes_the_image(tiny_services, tiny_request, store, files):
    from studio.outputs import read_request

    request = replace(tiny_request, scheduler="exponential", vae=VAE, prompt=f"(embedding:{EMBEDDING}:1.2) a cube",
                      refiner=REFINER, refiner_switch=0.6, steps=3)  # fmt: skip
    generated = tiny_services.engine.run(request).images[0]
    recorded = read_request(store.save(generated.image, generated.request).path)
    assert (recorded.scheduler, recorded.vae, recorded.refiner, recorded.refiner_switch) == ("exponential", VAE, REFINER, 0.6)
    assert f"embedding:{EMBEDDING}" in recorded.prompt
    assert np.array_equal(pixels(tiny_services.engine, recorded), np.asarray(generated.image).astype(int))


def test_cli_flags_and_listings(files, capsys):
    from studio.cli import build_parser, main
    from studio.generate_cli import request_from_args

    args = build_parser().parse_args(["generate", "--prompt", "x", "--scheduler", "karras", "--vae", VAE,
                                      "--refiner", REFINER, "--refiner-switch", "0.7"])  # fmt: skip
    request = request_from_args(args)
    assert (request.scheduler, request.vae, request.refiner, request.refiner_switch) == ("karras", VAE, REFINER, 0.7)
    assert request_from_args(build_parser().parse_args(["generate"])).scheduler == "default"
    assert main(["schedulers"]) == 0 and capsys.readouterr().out.split() == list(SCHEDULE_NAMES)
    assert main(["vaes", "--models-dir", str(files)]) == 0 and capsys.readouterr().out.split() == ["misfit", VAE]
    assert main(["embeddings", "--models-dir", str(files)]) == 0 and capsys.readouterr().out.split() == [EMBEDDING]


def test_ui_fields_carry_scheduler_vae_and_refiner(tiny_services):
    from studio.ui.fields import default_values, request_from_values, values_from_request
    from studio.ui.model_files import NO_REFINER_CHOICE, OWN_VAE, drop_missing_files, with_embedding

    info = tiny_services.manager.info
    defaults = default_values(info)
    assert (defaults["scheduler"], defaults["vae"], defaults["refiner"]) == ("default", OWN_VAE, NO_REFINER_CHOICE)
    neutral = request_from_values({"vae": OWN_VAE, "refiner": NO_REFINER_CHOICE}, info)
    assert (neutral.vae, neutral.refiner, neutral.refiner_switch) == ("", "", 0.8)
    request = request_from_values({"scheduler": "beta", "vae": VAE, "refiner": REFINER, "refiner_switch": 0.5,
                                   "random_seed": False, "seed": "3"}, info)  # fmt: skip
    assert (request.scheduler, request.vae, request.refiner, request.refiner_switch) == ("beta", VAE, REFINER, 0.5)
    assert request_from_values(values_from_request(request), info) == request
    with pytest.raises(InvalidRequest) as error:
        request_from_values({"scheduler": "nope"}, info)
    assert error.value.field == "scheduler"
    loaded = values_from_request(replace(request, vae="gone", refiner=REFINER))
    warnings = drop_missing_files(loaded, (VAE,), (REFINER,))
    assert "vae" not in loaded and loaded["refiner"] == REFINER and len(warnings) == 1 and "'gone'" in warnings[0]
    assert drop_missing_files(values_from_request(GenerationRequest()), (), ()) == []  # neutral: nothing to miss
    assert with_embedding("a cat", EMBEDDING) == f"a cat, embedding:{EMBEDDING}"
    assert with_embedding(f"a cat, embedding:{EMBEDDING}", EMBEDDING) == f"a cat, embedding:{EMBEDDING}"


def test_api_lists_and_generates_with_the_fields(url, files):
    from tests.serving_helpers import FAST, WAIT, api

    with api(url) as client:
        assert client.get("/v1/schedulers").json() == list(SCHEDULE_NAMES)
        assert VAE in client.get("/v1/vaes").json() and client.get("/v1/embeddings").json() == [EMBEDDING]
        body = {**FAST, "prompt": f"a cube embedding:{EMBEDDING}", "seed": 5, "scheduler": "karras", "vae": VAE}
        job = client.post("/v1/generate", json=body).json()
        done = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert done["state"] == "done"
        recorded = done["images"][0]["request"]
        assert (recorded["scheduler"], recorded["vae"]) == ("karras", VAE)
        for bad, field in (({"prompt": "embedding:nope"}, "prompt"), ({"vae": "nope"}, "vae"),
                           ({"sampler": "DDIM", "scheduler": "beta"}, "scheduler")):  # fmt: skip
            response = client.post("/v1/generate", json={**FAST, **bad})
            assert response.status_code == 422 and response.json()["error"]["field"] == field
