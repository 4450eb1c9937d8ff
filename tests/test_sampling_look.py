"""The Fooocus look in the sampling loop (15A): sharpness, ADM scaling, adaptive CFG, FreeU, CLIP skip.

Neutral settings run no new code and give today's bytes; each non-neutral one changes the image as it should;
every value is recorded in the metadata and re-makes the image; the CLI, the HTTP API and the UI take them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from studio.clip_skip import clip_skipped
from studio.conditioning import encode_prompts
from studio.edit_spec import EditSpec
from studio.outputs import read_request
from studio.presets import load_presets
from studio.sampling_guidance import GuidanceSettings, SamplingGuidance
from studio.types import GUIDANCE_FIELDS, GenerationRequest, InvalidRequest, limit_of
from studio.ui.fields import request_from_values, values_from_request
from studio.ui.preset_fields import preset_widget_values

FOOOCUS = {"sharpness": 2.0, "adm_scale_positive": 1.5, "adm_scale_negative": 0.8, "adm_scale_end": 0.3, "adaptive_cfg": 7.0}
EVERY_KNOB = {**FOOOCUS, "freeu_b1": 1.3, "freeu_b2": 1.4, "freeu_s1": 0.9, "freeu_s2": 0.2, "clip_skip": 1}


def pixels(engine, request) -> np.ndarray:
    return np.asarray(engine.run(request).images[0].image).astype(int)


@pytest.fixture(scope="module")
def neutral(tiny_services):
    request = GenerationRequest(
        prompt="a red cube on a table", seed=7, width=64, height=64, steps=2, cfg_scale=9.0, sampler="Euler"
    )
    return request, pixels(tiny_services.engine, request)


def test_neutral_request_installs_no_hook_and_gives_the_same_bytes(tiny_services, neutral, monkeypatch):
    request, expected = neutral
    assert GuidanceSettings.of(request).neutral

    def refuse(*args, **kwargs):
        raise AssertionError("a neutral request must not hook any module")

    pipeline = tiny_services.manager.pipeline
    for module in (pipeline.unet, pipeline.text_encoder, pipeline.text_encoder_2):
        monkeypatch.setattr(module, "register_forward_hook", refuse)
        monkeypatch.setattr(module, "register_forward_pre_hook", refuse)
    monkeypatch.setattr(type(pipeline), "enable_freeu", refuse)
    monkeypatch.setattr(SamplingGuidance, "__init__", refuse)
    assert np.array_equal(pixels(tiny_services.engine, request), expected)


def test_an_old_png_without_the_new_fields_remakes_byte_for_byte(tiny_services, neutral, store):
    request, expected = neutral
    record = store.save(Image.fromarray(expected.astype(np.uint8)), request)
    old = read_request(record.path).to_dict()
    for name in GUIDANCE_FIELDS:  # what a PNG made before these fields existed holds
        del old[name]
    remade = pixels(tiny_services.engine, GenerationRequest.from_dict(old))
    assert np.array_equal(remade, expected)


@pytest.mark.parametrize(
    "change",
    [
        {"sharpness": 2.0},
        {"adm_scale_positive": 1.5, "adm_scale_negative": 0.8, "adm_scale_end": 1.0},
        {"adaptive_cfg": 1.0},
        {"freeu_b1": 1.3, "freeu_b2": 1.4, "freeu_s1": 0.9, "freeu_s2": 0.2},
        {"clip_skip": 1},
    ],
    ids=lambda change: next(iter(change)),
)
def test_each_setting_changes_the_image_and_is_reproducible(tiny_services, neutral, change):
    request, plain = neutral
    looked = replace(request, **change)
    first = pixels(tiny_services.engine, looked)
    assert np.abs(first - plain).mean() > 0.02, f"{change} left the image as it was"
    assert np.array_equal(first, pixels(tiny_services.engine, looked))


def _high_frequency_energy(latents: torch.Tensor) -> float:
    laplacian = 4 * latents[..., 1:-1, 1:-1] - latents[..., :-2, 1:-1] - latents[..., 2:, 1:-1]
    laplacian = laplacian - latents[..., 1:-1, :-2] - latents[..., 1:-1, 2:]
    return float(laplacian.pow(2).mean())


def test_sharpness_adds_fine_detail(tiny_services, neutral):
    request, _ = neutral
    runs = [tiny_services.engine.run_many([replace(request, sharpness=value)])[0] for value in (0.0, 10.0)]
    plain, sharp = (_high_frequency_energy(run.latents) for run in runs)
    assert sharp > plain * 1.02


def test_adaptive_cfg_only_acts_above_its_threshold(tiny_services, neutral):
    request, plain = neutral
    at_or_below = replace(request, adaptive_cfg=request.cfg_scale)  # installed, but the CFG is not above it
    assert np.array_equal(pixels(tiny_services.engine, at_or_below), plain)


def _fake_pipeline(guidance_scale=10.0, steps=4):
    return SimpleNamespace(do_classifier_free_guidance=True, guidance_scale=guidance_scale, num_timesteps=steps)


def test_adaptive_cfg_fades_the_guidance_scale_to_the_mimicked_one():
    guidance = SamplingGuidance(GuidanceSettings(adaptive_cfg=7.0))
    guidance._pipeline = _fake_pipeline(guidance_scale=10.0, steps=4)
    uncond, cond = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    for step, expected_scale in [(0, 10.0), (2, 8.5), (3, 7.75)]:
        guidance.step = step
        out_uncond, out_cond = guidance._guided_prediction(torch.randn(2, 4, 8, 8), 500, torch.cat([uncond, cond])).chunk(2)
        combined = out_uncond + 10.0 * (out_cond - out_uncond)  # what the pipeline's CFG step does
        assert torch.allclose(combined, uncond + expected_scale * (cond - uncond), atol=1e-5)


def test_adm_scales_the_size_conditioning_of_each_branch_until_its_end():
    guidance = SamplingGuidance(GuidanceSettings(adm_scale_positive=1.5, adm_scale_negative=0.8, adm_scale_end=0.5))
    guidance._pipeline = _fake_pipeline(steps=4)
    time_ids = torch.tensor([[1024.0, 768, 0, 0, 1024, 768]] * 2)  # [negative, positive]
    kwargs = {"added_cond_kwargs": {"text_embeds": None, "time_ids": time_ids}}
    guidance.step = 1
    _, changed = guidance._scale_adm(None, (), kwargs)
    expected = torch.tensor([[819.2, 614.4, 0, 0, 1024, 768], [1536, 1152, 0, 0, 1024, 768]])
    assert torch.allclose(changed["added_cond_kwargs"]["time_ids"], expected)
    assert time_ids[0, 0] == 1024, "the pipeline's own tensor is left as it is"
    guidance.step = 2  # half of the steps: the scales have ended
    assert guidance._scale_adm(None, (), kwargs) is None


def test_freeu_is_off_again_after_its_image(tiny_services, neutral):
    request, plain = neutral
    pixels(tiny_services.engine, replace(request, freeu_b1=1.3, freeu_b2=1.4, freeu_s1=0.9, freeu_s2=0.2))
    assert all(getattr(block, "b1", None) is None for block in tiny_services.manager.pipeline.unet.up_blocks)
    assert np.array_equal(pixels(tiny_services.engine, request), plain)


def test_clip_skip_is_diffusers_clip_skip_for_both_encoders(tiny_services):
    pipeline = tiny_services.manager.pipeline
    with torch.inference_mode():
        expected = pipeline.encode_prompt("a red cube", device="cpu", do_classifier_free_guidance=False, clip_skip=2)
        plain = encode_prompts(pipeline, "a red cube", "", 1.0)
        with clip_skipped(pipeline, 2):
            skipped = encode_prompts(pipeline, "a red cube", "", 1.0)
            weighted = encode_prompts(pipeline, "a (red:1.3) cube", "", 1.0)  # the compel path
    assert torch.equal(skipped["prompt_embeds"], expected[0])
    assert torch.equal(skipped["pooled_prompt_embeds"], plain["pooled_prompt_embeds"])  # the pooled stays the last layer's
    assert not torch.equal(skipped["prompt_embeds"], plain["prompt_embeds"])
    with torch.inference_mode():
        weighted_plain = encode_prompts(pipeline, "a (red:1.3) cube", "", 1.0)
    assert not torch.equal(weighted["prompt_embeds"], weighted_plain["prompt_embeds"])
    assert not pipeline.text_encoder._forward_hooks and not pipeline.text_encoder_2._forward_hooks


def test_clip_skip_past_the_models_layers_is_refused_naming_the_field(tiny_services, neutral):
    request, _ = neutral
    with pytest.raises(InvalidRequest) as caught:
        tiny_services.engine.run(replace(request, clip_skip=limit_of("clip_skip").high))
    assert caught.value.field == "clip_skip" and "at most" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        tiny_services.engine.validate(replace(request, sharpness=31.0))
    assert caught.value.field == "sharpness" and "between 0 and 30" in caught.value.message


def test_the_look_works_on_img2img(tiny_services, neutral):
    request, plain = neutral
    image = tiny_services.engine.inputs.put(Image.fromarray(plain.astype(np.uint8)))
    vary = replace(request, steps=4, edit=EditSpec(kind="vary", image=image))
    looked = pixels(tiny_services.engine, replace(vary, **{**FOOOCUS, "adaptive_cfg": 3.0}))
    assert np.abs(looked - pixels(tiny_services.engine, vary)).mean() > 0.05


def test_every_setting_is_recorded_and_read_back(tiny_services, neutral, store):
    request, plain = neutral
    looked = replace(request, **EVERY_KNOB, model=tiny_services.manager.info.name)
    record = store.save(Image.fromarray(plain.astype(np.uint8)), looked)
    assert read_request(record.path) == looked
    # the UI's widgets re-make it too
    assert request_from_values(values_from_request(looked), tiny_services.manager.info) == looked


def test_presets_carry_the_fooocus_look_and_the_speed_presets_none(tiny_services):
    presets = load_presets()
    for name in ("default", "realistic", "anime"):
        assert {key: presets[name].settings[key] for key in FOOOCUS} == FOOOCUS
    for name in ("lightning", "extreme-speed"):
        assert GuidanceSettings.of(presets[name].apply(GenerationRequest())).neutral
    values, _ = preset_widget_values(presets["default"], tiny_services.manager.info, ())
    assert {key: values[key] for key in FOOOCUS} == FOOOCUS


def test_cli_takes_every_setting_and_the_presets_look(tmp_path, models_dir, capsys):
    from studio.cli import main

    common = ["generate", "--model", "tiny", "--models-dir", str(models_dir), "--prompt", "a lighthouse", "--seed", "3",
              "--size", "64x64", "--steps", "2", "--out", str(tmp_path), "--device", "cpu"]  # fmt: skip
    options = [f"--{name.replace('_', '-')}={value}" for name, value in EVERY_KNOB.items()]
    assert main([*common, *options]) == 0
    path = json.loads(capsys.readouterr().out.splitlines()[-1])["path"]
    assert {name: getattr(read_request(path), name) for name in EVERY_KNOB} == EVERY_KNOB
    assert main([*common, "--sharpness", "99"]) == 2
    assert "sharpness" in capsys.readouterr().err


def test_api_takes_the_settings_and_refuses_bad_ones_naming_the_field(url):
    from tests.serving_helpers import FAST, WAIT, api

    with api(url) as client:
        bad = client.post("/v1/generate", json={"prompt": "x", "adm_scale_positive": 5, **FAST})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "adm_scale_positive"
        reply = client.post("/v1/generate", json={"prompt": "looked", "seed": 5, **FAST, **EVERY_KNOB})
        assert reply.status_code == 202, reply.text
        job = client.get(f"/v1/jobs/{reply.json()['id']}", params=WAIT).json()
        assert job["state"] == "done", job
        assert {name: job["images"][0]["request"][name] for name in EVERY_KNOB} == EVERY_KNOB


def test_the_advanced_tab_has_a_slider_per_setting_with_its_declared_limit(app_url):
    from gradio_client import Client

    from studio.types import FOOOCUS_LOOK
    from studio.ui.guidance_fields import GUIDANCE_LABELS
    from tests.test_ui import english_label

    config = Client(app_url, verbose=False).config
    sliders = {english_label(c["props"].get("label")): c["props"] for c in config["components"] if c.get("type") == "slider"}
    for name, label in GUIDANCE_LABELS.items():
        limit = limit_of(name)
        assert (sliders[label]["minimum"], sliders[label]["maximum"]) == (limit.low, limit.high), name
        assert sliders[label]["value"] == FOOOCUS_LOOK.get(name, getattr(GenerationRequest(), name)), "the page starts with Fooocus's look"


def test_the_look_cost_benchmark_times_every_variant_against_neutral(tiny_services):
    from benchmarks.look_cost import VARIANTS, look_table, measure_look_cost

    result = measure_look_cost(tiny_services, runs=1, steps=3, size=32)
    assert [row["variant"] for row in result["rows"]] == list(VARIANTS)
    assert result["rows"][0]["ratio"] == 1.0 and all(row["ms_per_step"] > 0 for row in result["rows"])
    assert "x neutral" in look_table(result)


def test_the_look_works_on_inpaint_inside_the_mask_only(tiny_services, neutral):
    request, plain = neutral
    engine = tiny_services.engine
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    edit = EditSpec(kind="inpaint", image=engine.inputs.put(Image.fromarray(plain.astype(np.uint8))),
                    mask=engine.inputs.put(mask), mask_grow=0, mask_feather=0)  # fmt: skip
    inpaint = replace(request, steps=4, edit=edit)
    looked, unlooked = pixels(engine, replace(inpaint, **FOOOCUS)), pixels(engine, inpaint)
    inside = np.zeros((64, 64), bool)
    inside[16:48, 16:48] = True
    assert np.abs(looked - unlooked)[inside].mean() > 0.05
    assert np.array_equal(looked[~inside], unlooked[~inside])


def test_sharpness_reads_the_latents_of_a_nine_channel_inpainting_unet():
    from diffusers import EulerDiscreteScheduler

    guidance = SamplingGuidance(GuidanceSettings(sharpness=5.0))
    guidance._pipeline = SimpleNamespace(
        do_classifier_free_guidance=True, guidance_scale=5.0, num_timesteps=4, scheduler=EulerDiscreteScheduler()
    )
    sample, prediction = torch.randn(2, 9, 8, 8), torch.randn(2, 4, 8, 8)  # latents + mask + masked image in
    guided = guidance._guided_prediction(sample, 500, prediction)
    assert guided.shape == prediction.shape
    assert torch.equal(guided[:1], prediction[:1]), "the negative branch is left as it is"
    assert not torch.equal(guided[1:], prediction[1:])
