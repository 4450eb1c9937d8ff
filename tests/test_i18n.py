"""The page and its messages in English, 简体中文 and 繁體中文 (issue 18A): every key has all three languages, no
English text of the built page is left untranslated, errors name the field as the page labels it in that
language, a missing translation falls back to English, and --language forces one language for every page."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.context import LocalContext

from studio.image_prompt_spec import IMAGE_PROMPT_TYPES
from studio.performance import PERFORMANCE_NAMES
from studio.presets import load_presets
from studio.schedulers import SAMPLER_NAMES
from studio.translations import LOCALES, LOCALES_DIR, catalogue, locale_of, read_locale_file, translate
from studio.types import InvalidRequest
from studio.ui.fields import request_from_values
from studio.ui.i18n import StudioI18n, localize, say
from studio.ui.messages import user_message

CHINESE = ("zh-CN", "zh-TW")
SLOT = re.compile(r"\{(\w+)\}")
MARKER = re.compile(r'__i18n__(\{"__type__": "translation_metadata", "key": (?:"(?:[^"\\]|\\.)*")\})')
CODE = re.compile(r"`[^`]*`")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
# the props of a component the page shows as words (a widget's value is data, except a button's or a note's)
TEXT_PROPS = ("label", "info", "placeholder")
TEXT_VALUE_TYPES = ("button", "markdown", "uploadbutton", "downloadbutton")


def test_every_key_has_all_three_languages():
    files = {locale: read_locale_file(locale) for locale in CHINESE}
    assert sorted(path.name for path in LOCALES_DIR.glob("*.json")) == [f"{locale}.json" for locale in CHINESE]
    assert files["zh-CN"].keys() == files["zh-TW"].keys()
    for key in files["zh-CN"]:
        for locale in CHINESE:
            text = files[locale][key]
            assert text.strip(), f"{locale}: {key!r} has an empty translation"
            # a slot the translation drops or invents would crash or lose a value
            assert set(SLOT.findall(text)) == set(SLOT.findall(key)), f"{locale}: {key!r} -> {text!r}"
    # English is the key itself; the two Chinese files are really two scripts, not one copied
    assert translate("Setting", "en") == "Setting"
    assert (translate("Setting", "zh-CN"), translate("Setting", "zh-TW")) == ("设置", "設定")
    different = sum(files["zh-CN"][key] != files["zh-TW"][key] for key in files["zh-CN"])
    assert different > len(files["zh-CN"]) / 2


def _visible_english(text: str) -> list[str]:
    """The English words a person would read in `text` once the page has translated its markers (a marker
    whose key has no translation in some language counts as English); words in `code` are names, not prose."""
    words = []
    for marked in MARKER.findall(text):
        key = json.loads(marked)["key"]
        if any(key not in catalogue(locale).exact for locale in CHINESE):
            words.append(key)
    return words + ENGLISH_WORD.findall(CODE.sub("", MARKER.sub("", text)))


def _page_texts(config: dict) -> list[tuple[str, str, str]]:
    """(component type, prop, text) for every text of the built page a person reads."""
    texts = []
    for component in config["components"]:
        kind, props = component["type"], component.get("props", {})
        if kind == "api":  # the /generate endpoint's parameters: not on the page
            continue
        shown = [prop for prop in TEXT_PROPS if props.get(prop) is not None]
        if kind in TEXT_VALUE_TYPES and props.get("value") is not None:
            shown.append("value")
        texts += [(kind, prop, str(props[prop])) for prop in shown]
        for choice in props.get("choices") or []:
            texts.append((kind, "choice", str(choice[0] if isinstance(choice, (list, tuple)) else choice)))
    return texts


def test_no_english_text_is_left_in_the_built_page(tiny_services):
    """Walk the Blocks config: every label, info, placeholder, button, tab, note and choice a person reads is
    translated in both Chinese locales; only proper names (samplers, performance modes, presets, styles,
    image prompt types, model and LoRA file names) stay English."""
    from studio.ui import build_ui

    demo = build_ui(tiny_services)
    proper_names = {
        *SAMPLER_NAMES,
        *PERFORMANCE_NAMES,
        *IMAGE_PROMPT_TYPES,
        *load_presets(),
        *tiny_services.manager.available_models(),
        *tiny_services.engine.libraries.loras.names(),
        "LLM",  # the expansion mode, an acronym in any language
    }
    style_names = set(tiny_services.engine.libraries.styles.names)
    untranslated = []
    texts = _page_texts(demo.get_config_file())
    assert len(texts) > 100  # the walk really saw the page
    for kind, prop, text in texts:
        if text in proper_names or (prop == "choice" and " · " in text and text.split(" · ", 1)[1] in style_names):
            continue
        if _visible_english(text):
            untranslated.append(f"{kind}.{prop}: {text!r}")
    assert not untranslated, (
        "add these English texts (the key) and their translations to every studio/locales/*.json:\n"
        + "\n".join(untranslated)
    )
    assert isinstance(demo.i18n_instance, StudioI18n) and demo.i18n_instance.forced is None
    assert set(demo.i18n_instance.translations_dict) == set(LOCALES)


def test_a_text_without_a_translation_stays_english_and_never_breaks_the_page():
    assert translate("A widget nobody has translated yet", "zh-CN") == "A widget nobody has translated yet"
    assert translate("Prompt", "fr") == "Prompt"  # a language the studio does not have: English
    with gr.Blocks() as demo:
        known = gr.Textbox(label="Prompt", placeholder="What to avoid")
        new = gr.Textbox(label="A widget nobody has translated yet", info="Its help")
        button = gr.Button("Generate")
        radio = gr.Radio(choices=[("None", "none"), ("Untranslated", "other")], value="none")
    localize(demo, StudioI18n())
    assert isinstance(known.label, gr.i18n.I18nData) and known.label.key == "Prompt"
    assert isinstance(known.placeholder, gr.i18n.I18nData)
    assert (new.label, new.info) == ("A widget nobody has translated yet", "Its help")  # shown as written
    assert button.value.key == "Generate"
    assert radio.choices[0][0].key == "None" and radio.choices[1] == ("Untranslated", "other")
    assert radio.value == "none"  # the values the handlers read are untouched
    demo.get_config_file()  # the page's config still builds


@pytest.mark.parametrize(
    ("locale", "seed_error", "weight_error", "internal"),
    [
        (
            "en",
            "Seed: 'abc' is not a whole number.",
            "Image prompt 2 weight: 3 is not allowed; it must be between 0 and 2.",
            "Generate failed because of an internal error; the studio's console has the details.",
        ),
        (
            "zh-CN",
            "种子：'abc' 不是整数。",
            "图像提示 2 权重：不允许 3；必须在 0 到 2 之间。",
            "生成失败：内部错误，详情见工作室的控制台。",
        ),
        (
            "zh-TW",
            "種子：'abc' 不是整數。",
            "圖像提示 2 權重：不允許 3；必須介於 0 到 2 之間。",
            "生成失敗：內部錯誤，詳情見工作室的主控台。",
        ),
    ],
    ids=["en", "zh-CN", "zh-TW"],
)
def test_errors_name_the_field_as_the_page_labels_it_in_that_language(
    tiny_services, locale, seed_error, weight_error, internal
):
    with pytest.raises(InvalidRequest) as refused:
        request_from_values({"seed": "abc", "random_seed": False}, tiny_services.manager.info)
    assert user_message(refused.value, "Generate", locale) == seed_error
    weight = InvalidRequest("image_prompts[1].weight", "is 3; it must be between 0 and 2")
    assert user_message(weight, "Generate", locale) == weight_error
    assert user_message(RuntimeError("/srv/secret: boom"), "Generate", locale) == internal


def test_statuses_are_translated_part_by_part():
    status = "Done: 1 of 2 images saved, 1 skipped · seeds 5 to 6"
    assert translate(status, "zh-CN") == "完成：已保存 1/2 张图像，跳过 1 张 · 种子 5 到 6"
    assert translate(status, "zh-TW") == "完成：已儲存 1/2 張圖像，略過 1 張 · 種子 5 到 6"
    tile = "Image 1/2 · refining tile 2/4 · step 6/16"
    assert translate(tile, "zh-CN") == "图像 1/2 · 细化图块 2/4 · 第 6/16 步"
    queued = "Waiting in the queue: position 3 (2 job(s) ahead)"
    assert translate(queued, "zh-TW") == "排隊等待：第 3 位（前面還有 2 個工作）"
    cells = "Done: 3 of 4 cells · saved in the outputs folder as `compare/5`"
    assert translate(cells, "zh-CN") == "完成：3/4 格 · 已保存到输出文件夹：`compare/5`"
    load_warning = "The sampler 'Foo' is unknown here; the sampler was left as it is."  # Load parameters' toast
    assert translate(load_warning, "zh-TW") == "這裡沒有取樣器「Foo」；取樣器維持不變。"


@pytest.mark.parametrize(
    ("header", "locale"),
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("zh-tw", "zh-TW"), ("en-US,en", "en"), ("fr-FR", "en"), (None, "en")],
)
def test_the_server_speaks_the_language_gradio_picks_for_the_browser(header, locale):
    assert locale_of(header) == locale


def _in_event(blocks, accept_language: str):
    """Run as gradio runs a handler: its Blocks and request in the event's context."""
    request = SimpleNamespace(headers={"accept-language": accept_language})
    return LocalContext.blocks.set(blocks), LocalContext.request.set(request)


def test_messages_follow_the_browser_unless_language_is_forced():
    browser_page, forced_page = SimpleNamespace(i18n_instance=StudioI18n()), SimpleNamespace(i18n_instance=None)
    tokens = _in_event(browser_page, "zh-TW,zh;q=0.9")
    try:
        assert say("Generate") == "生成" and say("Skipping this image…") == "正在略過這張圖像…"
    finally:
        LocalContext.blocks.reset(tokens[0]), LocalContext.request.reset(tokens[1])
    forced_page.i18n_instance = StudioI18n("zh-CN")
    tokens = _in_event(forced_page, "en-US,en")
    try:
        assert say("Skipping this image…") == "正在跳过这张图像…"
    finally:
        LocalContext.blocks.reset(tokens[0]), LocalContext.request.reset(tokens[1])
    assert say("Skipping this image…") == "Skipping this image…"  # outside an event: English


def test_language_option_forces_one_language_on_every_page():
    from app import parse_settings

    assert parse_settings(["--language", "zh-TW"]).language == "zh-TW"
    assert parse_settings([]).language == ""
    with pytest.raises(SystemExit):
        parse_settings(["--language", "fr"])
    forced = StudioI18n("zh-TW").translations_dict
    # whatever language gradio picks for a browser (any other falls back to en), the page is in zh-TW
    assert all(forced[locale] == catalogue("zh-TW").exact for locale in LOCALES)
    english = StudioI18n("en").translations_dict
    assert english["zh-CN"] == {} and english["zh-TW"] == {}  # so a Chinese browser falls back to the English keys
