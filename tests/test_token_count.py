"""Issue 18: the live CLIP token counter counts what the text encoders are given, per 75-token chunk."""

from __future__ import annotations

import re

import pytest

from studio.clip_tokenizer import load_clip_tokenizers
from studio.conditioning import encode_prompts
from studio.token_count import ENCODER_NAMES, TokenCounter


@pytest.fixture(scope="module")
def tokenizers():
    return load_clip_tokenizers()


@pytest.fixture(scope="module")
def counter(tokenizers):
    return TokenCounter(tokenizers)


def tokens_of(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False).input_ids)


@pytest.mark.parametrize("prompt", ["", "a red cube on a table", "a lighthouse at dusk, oil painting, 8k, highly detailed"])
def test_a_plain_prompt_counts_what_each_tokenizer_makes(counter, tokenizers, prompt):
    counts = counter.count(prompt)
    assert [count.encoder for count in counts] == list(ENCODER_NAMES)
    for count, tokenizer in zip(counts, tokenizers):
        assert count.tokens == tokens_of(tokenizer, prompt) and count.chunks == (count.tokens,)
    assert counter.count("a red cube")[0].tokens == 3


def test_emphasis_syntax_is_not_counted_only_its_text(counter, tokenizers):
    weighted = "(red:1.3) cube, [blurry] ((shiny))"
    for count, tokenizer in zip(counter.count(weighted), tokenizers):
        assert count.tokens == tokens_of(tokenizer, "red cube, blurry shiny") == 5
        assert count.tokens < tokens_of(tokenizer, weighted), "brackets and weights would be tokens as raw text"


def test_a_long_prompt_is_counted_per_chunk_where_compel_splits_it(counter, tokenizers):
    words = "word " * 80
    assert all(count.chunks == (75, 5) for count in counter.count(words))
    sentences = "a big cat. " * 25  # 4 tokens each: compel ends the chunk after the 18th sentence, at 72
    for count, tokenizer in zip(counter.count(sentences), tokenizers):
        assert count.tokens == tokens_of(tokenizer, sentences) == 100
        assert count.chunks == (72, 28)


@pytest.mark.parametrize("prompt", ["a red cube", "(red:1.3) cube " * 20, "a big cat. " * 25, "word " * 160])
def test_the_chunk_count_is_the_encoders(counter, tiny_services, prompt):
    """The conditioning the tiny SDXL really gets holds 77 positions per chunk the counter shows."""
    embeds = encode_prompts(tiny_services.manager.pipeline, prompt, "", 5.0)["prompt_embeds"]
    assert embeds.shape[1] == 77 * len(counter.count(prompt)[0].chunks)


def test_summary_shows_each_chunk_for_both_encoders(counter):
    assert counter.summary("word " * 80) == (
        "CLIP ViT-L 80 tokens: 75/75 + 5/75 · OpenCLIP ViT-bigG 80 tokens: 75/75 + 5/75"
    )
    assert counter.summary("cat") == "CLIP ViT-L 1 token: 1/75 · OpenCLIP ViT-bigG 1 token: 1/75"


@pytest.mark.browser
def test_the_counter_follows_typing_in_a_real_browser(browser, app_url, counter):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    try:
        page.goto(app_url)
        shown = page.locator("#studio-token-count")
        prompt = page.locator("#studio-prompt textarea")
        prompt.fill("")
        prompt.press_sequentially("(red:1.3) cube", delay=20)
        expected = counter.summary("(red:1.3) cube")
        page.wait_for_function(
            "expected => document.querySelector('#studio-token-count').innerText.includes(expected)", arg=expected
        )
        prompt.fill("word " * 80)
        page.wait_for_function("() => document.querySelector('#studio-token-count').innerText.includes('75/75 + 5/75')")
        assert re.search(r"CLIP ViT-L 80 tokens: 75/75 \+ 5/75", shown.inner_text())
        expanded = page.locator("#studio-expanded-prompt textarea")
        expanded.fill("a cat")  # Generate would encode the Expanded prompt: the counter counts it
        page.wait_for_function("() => document.querySelector('#studio-token-count').innerText.includes('2 tokens: 2/75')")
    finally:
        page.close()
