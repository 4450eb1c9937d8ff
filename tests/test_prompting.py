"""Issue 3 effects on the tiny model: styles, emphasis, long prompts, wildcards, LoRAs, performance modes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from studio.conditioning import encode_prompts, to_compel_syntax
from studio.outputs import read_request
from studio.registry import LIGHTNING_LORA_SDXL
from studio.tiny import save_tiny_lora
from studio.types import GenerationRequest, InvalidRequest, LoraWeight
from studio.wildcards import WildcardLibrary


@pytest.fixture(scope="module")
def loras(tiny_services, models_dir):
    folder = models_dir / "loras"
    save_tiny_lora(folder / "inkwash.safetensors", seed=1)
    save_tiny_lora(folder / "kohya-style.safetensors", seed=2, kohya=True)
    save_tiny_lora(folder / "with-text.safetensors", seed=3, text_encoder=True)
    lightning = models_dir / "registry" / LIGHTNING_LORA_SDXL.repo_id.replace("/", "--") / LIGHTNING_LORA_SDXL.allow_patterns[0]
    save_tiny_lora(lightning, seed=4)
    return folder


def pixels(services, request) -> np.ndarray:
    return np.asarray(services.engine.run(request).images[0].image).astype(int)


def test_styles_are_applied_in_order_and_recorded(tiny_services, tiny_request):
    library = tiny_services.engine.libraries.styles
    first, second = library.names[0], library.names[1]
    result = tiny_services.engine.run(replace(tiny_request, styles=(first, second)))
    recorded = result.images[0].request
    expected = library.apply(tiny_request.prompt, "", (first, second), tiny_request.seed)
    assert (recorded.prompt, recorded.negative_prompt) == expected
    assert recorded.styles == ()
    assert tiny_request.prompt in recorded.prompt and recorded.prompt != tiny_request.prompt
    assert not np.array_equal(np.asarray(result.images[0].image), pixels(tiny_services, tiny_request))


def test_a_style_changes_the_conditioning(tiny_services, tiny_request):
    library = tiny_services.engine.libraries.styles
    pipeline = tiny_services.manager.pipeline
    styled, _ = library.apply(tiny_request.prompt, "", (library.names[0],), 0)
    plain = encode_prompts(pipeline, tiny_request.prompt, "", 5.0)["prompt_embeds"]
    assert not torch.equal(plain, encode_prompts(pipeline, styled, "", 5.0)["prompt_embeds"])


def test_unknown_style_is_refused_by_name(tiny_services, tiny_request):
    with pytest.raises(InvalidRequest) as error:
        tiny_services.engine.run(replace(tiny_request, styles=("No Such Style",)))
    assert error.value.field == "styles[0]"


def test_emphasis_changes_embeddings_only_where_emphasised(tiny_services):
    pipeline = tiny_services.manager.pipeline
    plain = encode_prompts(pipeline, "a red cube on a table", "", 5.0)["prompt_embeds"]
    emphasised = encode_prompts(pipeline, "a (red:1.5) cube on a table", "", 5.0)["prompt_embeds"]
    changed = torch.nonzero((emphasised - plain).abs().amax(dim=-1)[0] > 1e-6).flatten().tolist()
    assert changed == [2]  # <start>, "a", "red": only the emphasised token moves


def test_emphasis_syntax_is_rewritten_for_compel():
    assert to_compel_syntax("a (red:1.5) cube, [blurry], ((big))") == "a (red)1.5 cube, (blurry)0.9091, ((big)1.1)1.1"
    assert to_compel_syntax(r"\(literal\) (open") == r"\(literal\) \(open"


def test_long_prompts_are_chunked_not_cut(tiny_services):
    pipeline = tiny_services.manager.pipeline
    words = " ".join(f"word{i}" for i in range(60))
    embeds = encode_prompts(pipeline, words + " ending in a red cube", "", 5.0)["prompt_embeds"]
    cut = encode_prompts(pipeline, words + " ending in a blue sphere", "", 5.0)["prompt_embeds"]
    assert embeds.shape[1] > 77
    assert not torch.equal(embeds, cut), "words past the first 77 tokens must still count"


def test_wildcards_are_seeded_and_choices_follow_the_image_index(tiny_services, tiny_request):
    library = WildcardLibrary()
    colors = library.lines("color")
    assert library.expand("a __color__ cube", 5, 0) == library.expand("a __color__ cube", 5, 3)
    picks = {library.expand("a __color__ cube", seed, 0) for seed in range(30)}
    assert len(picks) > 3 and all(any(c in p for c in colors) for p in picks)
    result = tiny_services.engine.run(replace(tiny_request, prompt="a [[red, green, blue]] cube", image_count=4))
    assert [image.request.prompt for image in result.images] == ["a red cube", "a green cube", "a blue cube", "a red cube"]
    with pytest.raises(InvalidRequest, match="__nope__"):
        tiny_services.engine.run(replace(tiny_request, prompt="a __nope__ cube"))


def test_lora_changes_output_weight_zero_and_removal_restore_base_exactly(tiny_services, tiny_request, loras):
    base = pixels(tiny_services, tiny_request)
    for name in ("inkwash", "kohya-style", "with-text"):
        with_lora = pixels(tiny_services, replace(tiny_request, loras=(LoraWeight(name, 1.0),)))
        assert np.abs(with_lora - base).mean() > 0.5, f"{name} had no visible effect"
        assert np.array_equal(pixels(tiny_services, replace(tiny_request, loras=(LoraWeight(name, 0.0),))), base)
    assert np.array_equal(pixels(tiny_services, tiny_request), base), "removing all LoRAs must restore the base"


def test_loras_switch_without_reloading_the_base(tiny_services, tiny_request, loras):
    unet = tiny_services.manager.pipeline.unet
    tiny_services.engine.run(replace(tiny_request, loras=(LoraWeight("inkwash", 0.7), LoraWeight("kohya-style", 0.5))))
    tiny_services.engine.run(replace(tiny_request, loras=(LoraWeight("with-text", 1.0),)))
    assert tiny_services.manager.pipeline.unet is unet


def test_inline_lora_tag_equals_the_slot(tiny_services, tiny_request, loras):
    tagged = tiny_services.engine.run(replace(tiny_request, prompt=tiny_request.prompt + " <lora:inkwash:0.8>")).images[0]
    assert tagged.request.prompt == tiny_request.prompt and tagged.request.loras == (LoraWeight("inkwash", 0.8),)
    slot = pixels(tiny_services, replace(tiny_request, loras=(LoraWeight("inkwash", 0.8),)))
    assert np.array_equal(np.asarray(tagged.image), slot)


@pytest.mark.parametrize("name", ["../inkwash", "/etc/passwd", "missing", ".hidden"])
def test_loras_are_chosen_by_name_only(tiny_services, tiny_request, loras, name):
    with pytest.raises(InvalidRequest) as error:
        tiny_services.engine.run(replace(tiny_request, loras=(LoraWeight(name, 1.0),)))
    assert error.value.field == "loras[0].name"


def test_lora_weight_limit(tiny_services, tiny_request, loras):
    with pytest.raises(InvalidRequest, match="between -2 and 2"):
        tiny_services.engine.run(replace(tiny_request, loras=(LoraWeight("inkwash", 2.5),)))


def test_lightning_mode_runs_four_steps_at_cfg_one_with_its_lora(tiny_services, tiny_request, loras):
    events = []
    request = replace(tiny_request, performance="Lightning", steps=30, cfg_scale=7.0)
    result = tiny_services.engine.run(request, on_progress=events.append)
    recorded = result.images[0].request
    assert (recorded.steps, recorded.cfg_scale, recorded.sampler) == (4, 1.0, "Euler trailing")
    assert [event.step for event in events] == [1, 2, 3, 4]
    same_without_lora = replace(tiny_request, steps=4, cfg_scale=1.0, sampler="Euler trailing")
    assert not np.array_equal(np.asarray(result.images[0].image), pixels(tiny_services, same_without_lora))


def test_speed_lora_missing_offline_is_a_clear_error(tiny_services, tiny_request):
    from studio.models import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="latent-consistency/lcm-lora-sdxl"):
        tiny_services.engine.run(replace(tiny_request, performance="Extreme Speed"))


def test_everything_resolved_is_recorded_and_remakes_the_image(tiny_services, tiny_request, loras, store):
    library = tiny_services.engine.libraries.styles
    request = replace(tiny_request, prompt="a (__color__:1.3) cube <lora:inkwash:0.6>", image_count=2,
                      styles=tuple(library.names[:3]), loras=(LoraWeight("kohya-style", 0.4),))  # fmt: skip
    result = tiny_services.engine.run(request)
    for generated in result.images:
        record = store.save(generated.image, generated.request)
        loaded = read_request(record.path)
        assert "__color__" not in loaded.prompt and "<lora:" not in loaded.prompt
        assert loaded.loras == (LoraWeight("kohya-style", 0.4), LoraWeight("inkwash", 0.6))
        remade = tiny_services.engine.run(loaded).images[0]
        assert np.array_equal(np.asarray(remade.image), np.asarray(generated.image))


def test_request_json_carries_styles_and_loras():
    request = GenerationRequest(styles=("A", "B"), loras=(LoraWeight("x", -0.5),), performance="Quality")
    assert GenerationRequest.from_dict(request.to_dict()) == request
    with pytest.raises(InvalidRequest, match="loras"):
        GenerationRequest.from_dict({"loras": [{"name": "x", "weight": "heavy"}]})
    with pytest.raises(InvalidRequest, match="styles"):
        GenerationRequest.from_dict({"styles": "Film Noir"})
