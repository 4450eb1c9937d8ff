"""Issue 18: the local instruct expander, translation to English before encoding, and what the PNG records.

The tiny instruct model (random weights, a real byte-level BPE and ChatML template) writes gibberish; these
tests check the plumbing: the chat template, seeded determinism, English-only output, the original and English
prompts in the metadata, and a re-make from the metadata that needs no language model.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from studio.engine import Engine
from studio.expansion.factory import ExpanderCache, build_expander
from studio.expansion.instruct import EXPAND_SYSTEM_FILE, TRANSLATE_SYSTEM_FILE, InstructExpander, system_prompt
from studio.expansion.language import foreign_scripts, needs_translation
from studio.expansion.protocol import ExpansionError
from studio.expansion.settings import ExpansionSettings
from studio.outputs import read_request
from studio.tiny.instruct import save_tiny_instruct
from studio.types import GenerationRequest, InvalidRequest, validate_request

CHINESE = "一只猫坐在窗台上，城市夜景"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run hundreds of small steps: on a busy 2-core machine two contending threads make each
    step ~20x slower than one. Restored afterwards for the other modules."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def instruct_folder(tmp_path_factory):
    return save_tiny_instruct(tmp_path_factory.mktemp("instruct") / "tiny-qwen2")


@pytest.fixture(scope="module")
def instruct(instruct_folder, tmp_path_factory) -> InstructExpander:
    settings = ExpansionSettings(mode="instruct", instruct_model=str(instruct_folder))
    return build_expander(settings, tmp_path_factory.mktemp("models"), offline=True)


@pytest.fixture(scope="module")
def translating_engine(tiny_services, instruct_folder):
    settings = ExpansionSettings(instruct_model=str(instruct_folder))
    expanders = ExpanderCache(settings, instruct_folder.parent, offline=True)
    return Engine(tiny_services.manager, replace(tiny_services.engine.libraries, expanders=expanders))


@pytest.fixture(scope="module")
def engine_without_models(tiny_services, tmp_path_factory):
    """Offline with an empty models folder: any use of the instruct model fails."""
    expanders = ExpanderCache(ExpansionSettings(), tmp_path_factory.mktemp("empty-models"), offline=True)
    return Engine(tiny_services.manager, replace(tiny_services.engine.libraries, expanders=expanders))


@pytest.mark.parametrize(
    "text, scripts",
    [
        ("a red cube on a table", ()),
        ("café au lait, (µm lens:1.2), α particle, 🐱", ()),
        ("ＡＢＣ fullwidth latin", ()),
        (CHINESE, ("CJK",)),
        ("a cat, 猫", ("CJK",)),
        ("ねこ と 고양이", ("HIRAGANA", "HANGUL")),
        ("кошка на окне", ("CYRILLIC",)),
        ("γάτα", ("GREEK",)),
        ("قطة", ("ARABIC",)),
    ],
)
def test_non_english_scripts_are_detected_without_a_model(text, scripts):
    assert foreign_scripts(text) == scripts
    assert needs_translation(text) == bool(scripts)


def test_the_chat_template_wraps_the_shipped_system_prompt(instruct):
    text = instruct.tokenizer.decode(instruct.chat_ids(system_prompt(EXPAND_SYSTEM_FILE), CHINESE))
    expected = (
        f"<|im_start|>system\n{system_prompt(EXPAND_SYSTEM_FILE)}<|im_end|>\n"
        f"<|im_start|>user\n{CHINESE}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert text == expected
    assert "translate" in system_prompt(EXPAND_SYSTEM_FILE).lower()
    assert system_prompt(TRANSLATE_SYSTEM_FILE) != system_prompt(EXPAND_SYSTEM_FILE)


def test_instruct_expansion_is_seeded_and_english(instruct):
    first, again, other = instruct.expand(CHINESE, 1), instruct.expand(CHINESE, 1), instruct.expand(CHINESE, 2)
    assert first == again and first != other
    for text in (first, other):
        assert text and text.isascii() and text.isprintable() and not needs_translation(text)
    assert instruct.expand("   ", 1) == ""


def test_sampling_is_repeatable_in_a_fresh_expander(instruct, instruct_folder, tmp_path):
    """Not the cache: a second model instance from the same folder samples the same tokens for a seed."""
    fresh = build_expander(ExpansionSettings(mode="instruct", instruct_model=str(instruct_folder)), tmp_path, True)
    assert fresh.expand(CHINESE, 5) == instruct.expand(CHINESE, 5)


def test_translation_is_one_text_whatever_the_seed(instruct):
    assert instruct.translate(CHINESE) == instruct.translate(CHINESE)
    assert instruct.translate(CHINESE).isascii() and not needs_translation(instruct.translate(CHINESE))


def test_only_ascii_tokens_and_the_end_of_turn_may_be_sampled(instruct):
    allowed = instruct.allowed_tokens()
    pieces = instruct.tokenizer.batch_decode([[index] for index in range(allowed.shape[0])])
    assert all(pieces[i].isascii() for i in range(len(pieces)) if allowed[i] and i not in instruct.stop_ids)
    assert not all(allowed.tolist()), "the vocabulary has Chinese and partial-byte tokens; they are masked"
    assert all(allowed[i] for i in instruct.stop_ids)


def test_a_chinese_prompt_is_translated_and_both_prompts_are_recorded(translating_engine, tiny_request, store, engine_without_models):
    request = replace(tiny_request, prompt=CHINESE, translate="auto", image_count=2)
    images = translating_engine.run(request).images
    english = images[0].request.english_prompt
    assert english and english.isascii() and english == images[1].request.english_prompt, "one translation per batch"
    for image in images:
        recorded = image.request
        assert recorded.original_prompt == CHINESE and recorded.prompt == english
        assert recorded.translate == "off", "the record holds the English prompt; nothing is translated again"
    saved = read_request(store.save(images[1].image, images[1].request).path)
    assert saved == images[1].request
    # the re-make reads the recorded English prompt: it needs no language model at all
    remade = engine_without_models.run(saved).images[0]
    assert np.array_equal(np.asarray(remade.image), np.asarray(images[1].image))
    assert remade.request == saved


def test_translation_changes_the_image_and_off_changes_nothing(translating_engine, tiny_request):
    chinese = replace(tiny_request, prompt=CHINESE)
    untranslated = translating_engine.run(chinese).images[0]
    assert untranslated.request.prompt == CHINESE and untranslated.request.original_prompt == ""
    translated = translating_engine.run(replace(chinese, translate="auto")).images[0]
    assert not np.array_equal(np.asarray(translated.image), np.asarray(untranslated.image))


def test_auto_leaves_english_alone_and_always_translates_it(translating_engine, tiny_request, engine_without_models):
    plain = engine_without_models.run(tiny_request).images[0]
    auto = engine_without_models.run(replace(tiny_request, translate="auto")).images[0]
    assert auto.request == plain.request and np.array_equal(np.asarray(auto.image), np.asarray(plain.image))
    always = translating_engine.run(replace(tiny_request, translate="always")).images[0]
    assert always.request.original_prompt == tiny_request.prompt and always.request.prompt == always.request.english_prompt


def test_instruct_expansion_follows_the_translation(translating_engine, tiny_request):
    request = replace(tiny_request, prompt=CHINESE, translate="auto", expansion="instruct")
    recorded = translating_engine.run(request).images[0].request
    assert recorded.expansion == "none" and recorded.original_prompt == CHINESE
    assert recorded.prompt.startswith(recorded.english_prompt + ", ") and recorded.prompt.isascii()


def test_a_missing_instruct_model_names_the_translate_setting(engine_without_models, tiny_request):
    with pytest.raises(ExpansionError, match=r"^translate: .*Qwen/Qwen2\.5-0\.5B-Instruct.*set Translate to off"):
        engine_without_models.run(replace(tiny_request, prompt=CHINESE, translate="auto"))
    with pytest.raises(ExpansionError, match=r"^expansion: .*Qwen/Qwen2\.5-0\.5B-Instruct"):
        engine_without_models.run(replace(tiny_request, expansion="instruct"))


def test_translate_field_is_checked_and_old_metadata_reads_as_neutral(tiny_request):
    with pytest.raises(InvalidRequest, match="^translate: 'maybe' is unknown; choose one of: off, auto, always"):
        validate_request(GenerationRequest.from_dict({"translate": "maybe"}), None)
    old = {k: v for k, v in tiny_request.to_dict().items() if k not in ("translate", "original_prompt", "english_prompt")}
    assert GenerationRequest.from_dict(old) == tiny_request
    assert (tiny_request.translate, tiny_request.original_prompt, tiny_request.english_prompt) == ("off", "", "")


def test_a_model_without_chat_template_is_refused(tmp_path):
    from studio.tiny import save_tiny_gpt2

    folder = save_tiny_gpt2(tmp_path / "gpt2")
    with pytest.raises(ExpansionError, match="no chat template"):
        build_expander(ExpansionSettings(mode="instruct", instruct_model=str(folder)), tmp_path, True)


def test_cli_translates_by_default_and_records_both_prompts(tmp_path, models_dir, instruct_folder, capsys):
    from studio.cli import main

    base = ["generate", "--model", "tiny", "--models-dir", str(models_dir), "--prompt", CHINESE, "--seed", "3",
            "--size", "64x64", "--steps", "2", "--out", str(tmp_path), "--device", "cpu",
            "--instruct-model", str(instruct_folder), "--offline"]  # fmt: skip
    assert main(base) == 0
    recorded = read_request(json.loads(capsys.readouterr().out)["path"])
    assert recorded.original_prompt == CHINESE and recorded.prompt == recorded.english_prompt and recorded.prompt.isascii()
    assert main([*base, "--translate", "off", "--expand", "instruct"]) == 0
    untranslated = read_request(json.loads(capsys.readouterr().out)["path"])
    assert untranslated.original_prompt == "" and untranslated.prompt.startswith(CHINESE + ", ")


def test_api_generate_translates_on_request_and_names_a_bad_choice(tiny_services, instruct_folder):
    from studio.settings import Settings
    from tests.serving_helpers import FAST, TOKEN, USERS, WAIT, api, serving

    expansion = ExpansionSettings(instruct_model=str(instruct_folder))
    settings = replace(tiny_services.settings, auth_users=USERS, api_tokens=(TOKEN,), expansion=expansion)
    assert isinstance(settings, Settings)
    expanders = ExpanderCache(expansion, instruct_folder.parent, offline=True)
    engine = Engine(tiny_services.manager, replace(tiny_services.engine.libraries, expanders=expanders))
    with serving(replace(tiny_services, settings=settings, engine=engine)) as (_app, url), api(url) as client:
        bad = client.post("/v1/generate", json={"prompt": CHINESE, "translate": "maybe", **FAST})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "translate"
        job = client.post("/v1/generate", json={"prompt": CHINESE, "seed": 4, "translate": "auto", **FAST}).json()
        done = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert done["state"] == "done", done
        recorded = done["images"][0]["request"]
        assert recorded["original_prompt"] == CHINESE and recorded["prompt"] == recorded["english_prompt"]
        expand = client.post("/v1/expand", json={"prompt": CHINESE, "seed": 2, "mode": "instruct"}).json()
        assert expand["expansion"].isascii() and expand["prompt"].startswith(CHINESE + ", ")


def test_cli_expand_with_the_instruct_model_is_seeded(instruct_folder, capsys):
    from studio.cli import main

    argv = ["expand", CHINESE, "--mode", "instruct", "--seed", "4", "--instruct-model", str(instruct_folder), "--offline"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["mode"] == "instruct" and first["expansion"].isascii() and first["expansion"]
    assert main(argv) == 0 and json.loads(capsys.readouterr().out) == first
