"""Prompt expansion: the seeded local GPT-2 (tiny random weights, real GPT-2 tokenizer) and the
OpenAI-compatible LLM client against a real chat-completions server on 127.0.0.1. No network."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.expansion import (
    ExpansionError,
    ExpansionSettings,
    NoExpansion,
    PromptExpander,
    build_expander,
    compose_positive_prompt,
)
from studio.expansion.local import CLIP_CHUNK
from studio.expansion.words import positive_words, prompt_words, words_of
from studio.types import InvalidRequest

SEEDS = (0, 1, 2, 3, 4)
# Every content word here is also on the descriptive-word list the expander is biased towards.
STEERED_PROMPT = "cinematic portrait of a detailed golden robot, dramatic lighting"


# ---------------------------------------------------------------- local expander


@pytest.fixture(scope="module")
def tiny_lm_folder(tmp_path_factory):
    from studio.tiny import save_tiny_gpt2

    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def local(tiny_lm_folder, tmp_path_factory):
    """Loaded through build_expander, the same code path as the real hub model."""
    settings = ExpansionSettings(mode="local", local_model=str(tiny_lm_folder))
    return build_expander(settings, tmp_path_factory.mktemp("models"), offline=True)


@pytest.fixture(scope="module")
def clip_length():
    from studio.clip_tokenizer import load_clip_tokenizers

    tokenizer = load_clip_tokenizers()[0]
    return lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)


def test_local_expander_follows_the_protocol(local):
    assert isinstance(local, PromptExpander)
    assert isinstance(NoExpansion(), PromptExpander)
    assert NoExpansion().expand("a cat", 1) == ""


def test_one_seed_gives_one_expansion(local):
    first = local.expand("a cute robot using a laptop", 42)
    assert first and first == local.expand("a cute robot using a laptop", 42)


def test_different_seeds_give_different_expansions(local):
    expansions = {local.expand("two university students", seed) for seed in SEEDS}
    assert len(expansions) >= 4


def test_empty_prompt_is_not_expanded(local):
    assert local.expand("", 1) == ""
    assert local.expand("   ", 1) == ""


@pytest.mark.parametrize(
    "prompt",
    [
        "a cute robot using a laptop",
        (
            "an old lighthouse on a rocky island at dusk, waves crashing against the cliffs, seagulls circling "
            "overhead, a small fishing boat returning to the harbour, lanterns glowing in the windows"
        ),
    ],
)
def test_expansion_stops_at_the_clip_chunk_boundary(local, clip_length, prompt):
    for seed in SEEDS[:3]:
        expansion = local.expand(prompt, seed)
        total = clip_length(compose_positive_prompt(prompt, expansion))
        assert total <= CLIP_CHUNK
        # The tiny model never emits end-of-text, so it runs up to the boundary (less a dropped partial word).
        assert total >= CLIP_CHUNK - 6, (total, expansion)


def test_prompt_that_fills_the_chunk_gets_no_expansion(local, clip_length):
    prompt = ", ".join(["a red house by the sea"] * 14)
    assert clip_length(prompt) > CLIP_CHUNK
    assert local.expand(prompt, 1) == ""


def test_expansion_never_repeats_the_prompts_words(local):
    banned = prompt_words(STEERED_PROMPT)
    assert {"cinematic", "portrait", "detailed", "golden", "robot", "dramatic", "lighting"} <= banned
    for seed in SEEDS:
        expansion = local.expand(STEERED_PROMPT, seed)
        assert expansion
        assert not set(words_of(expansion)) & banned, (seed, expansion)


def test_without_those_words_in_the_prompt_the_bias_would_produce_them(local):
    """The control for the no-repeat test: the same words do come up when the prompt does not ban them."""
    produced = set()
    for seed in SEEDS:
        produced |= set(words_of(local.expand("a cat", seed)))
    assert produced & prompt_words(STEERED_PROMPT)


def test_expansion_is_steered_towards_descriptive_words(tiny_lm_folder, clip_length):
    from studio.clip_tokenizer import load_clip_tokenizers
    from studio.expansion.local import LocalExpander
    from studio.expansion.local_model import load_causal_lm

    model, tokenizer = load_causal_lm(tiny_lm_folder)
    clip = load_clip_tokenizers()[0]
    vocabulary = {word for phrase in positive_words() for word in words_of(phrase)}

    def descriptive_share(bias: float) -> float:
        expander = LocalExpander(model, tokenizer, clip, bias=bias)
        words = [w for seed in SEEDS[:3] for w in words_of(expander.expand("a cat", seed))]
        return sum(w in vocabulary for w in words) / len(words)

    assert descriptive_share(2.0) > 0.5 > descriptive_share(0.0)


def test_pickled_only_model_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    settings = ExpansionSettings(mode="local", local_model=str(tmp_path))
    with pytest.raises(ExpansionError, match="pickled"):
        build_expander(settings, tmp_path / "models", offline=True)


def test_offline_without_the_model_names_the_setting(tmp_path):
    with pytest.raises(ExpansionError, match="--offline") as error:
        build_expander(ExpansionSettings(mode="local"), tmp_path / "models", offline=True)
    assert "Gustavosta/MagicPrompt-Stable-Diffusion" in str(error.value)
    assert "choose the expansion None or LLM" in str(error.value)  # the names the page and the API use
    assert str(tmp_path) not in str(error.value) and "Error" not in str(error.value)  # no path, no class name


def test_compose_positive_prompt():
    assert compose_positive_prompt("a cat", "fluffy, soft lighting") == "a cat, fluffy, soft lighting"
    assert compose_positive_prompt("a cat, ", ", fluffy") == "a cat, fluffy"
    assert compose_positive_prompt("a cat", "") == "a cat"
    assert compose_positive_prompt("", "fluffy") == "fluffy"


def test_settings_limits_and_record():
    with pytest.raises(InvalidRequest, match="expansion"):
        ExpansionSettings(mode="magic")
    with pytest.raises(InvalidRequest, match="temperature"):
        ExpansionSettings(mode="llm", temperature=3.0)
    with pytest.raises(InvalidRequest, match="base_url"):
        ExpansionSettings(mode="llm", base_url="localhost:11434")
    record = ExpansionSettings(mode="llm", model="m", api_key_env="MY_KEY").record()
    assert record == {"mode": "llm", "model": "m", "temperature": 0.7}


def test_cli_expand_prints_a_json_line(tiny_lm_folder, capsys):
    from studio.cli import main

    argv = ["expand", "a cute robot", "--seed", "3", "--expansion-model", str(tiny_lm_folder), "--offline"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["prompt"] == "a cute robot" and first["seed"] == 3 and first["mode"] == "local"
    assert first["expansion"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first


# ---------------------------------------------------------------- LLM expander

KEY_ENV = "STUDIO_TEST_LLM_KEY"
KEY = "sk-test-do-not-leak-1234567890"


class ChatServer:
    """A chat-completions endpoint on 127.0.0.1 answering from a script of (status, body, headers)."""

    def __init__(self):
        self.script: list[tuple[int, object, dict]] = []
        self.requests: list[dict] = []
        self.release = threading.Event()  # a "hang" answer waits for this
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                server.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("authorization"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status, body, headers = server.script.pop(0) if server.script else (500, {"error": "no script"}, {})
                if body == "hang":
                    server.release.wait(10)
                    status, body = 200, completion("too late")
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
    }


@pytest.fixture
def chat():
    server = ChatServer()
    yield server
    server.close()


@pytest.fixture
def llm(chat, monkeypatch):
    from studio.expansion.llm import LLMExpander

    monkeypatch.setenv(KEY_ENV, KEY)
    settings = ExpansionSettings(
        mode="llm", base_url=chat.base_url, model="test-model", api_key_env=KEY_ENV, temperature=0.5, timeout=0.5
    )
    expander = LLMExpander(settings)
    yield expander
    expander.close()


def _assert_no_key(error: pytest.ExceptionInfo):
    assert KEY not in str(error.value) and KEY not in repr(error.value)


def test_llm_success_sends_a_chat_completion(chat, llm):
    chat.script.append((200, completion('Prompt: "A cute robot typing on a laptop, soft studio lighting"'), {}))
    assert llm.expand("一个可爱的机器人在用笔记本电脑", 7) == "A cute robot typing on a laptop, soft studio lighting"
    (request,) = chat.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == "test-model" and body["seed"] == 7 and body["temperature"] == 0.5
    system, user = body["messages"]
    assert system["role"] == "system" and "English" in system["content"] and "Chinese" in system["content"]
    assert user == {"role": "user", "content": "一个可爱的机器人在用笔记本电脑"}


def test_llm_empty_prompt_makes_no_call(chat, llm):
    assert llm.expand("  ", 1) == ""
    assert chat.requests == []


def test_llm_cache_hit_makes_no_second_call(chat, llm):
    chat.script += [(200, completion("first"), {}), (200, completion("second"), {})]
    assert llm.expand("a cat", 1) == "first"
    assert llm.expand("a cat", 1) == "first"
    assert len(chat.requests) == 1
    assert llm.expand("a cat", 2) == "second"  # another seed is another request
    assert len(chat.requests) == 2


def test_llm_401_names_the_key_variable_never_the_key(chat, llm):
    chat.script.append((401, {"error": {"message": f"Incorrect API key provided: {KEY}"}}, {}))
    with pytest.raises(ExpansionError, match=KEY_ENV) as error:
        llm.expand("a cat", 1)
    _assert_no_key(error)


def test_llm_404_names_the_model(chat, llm):
    chat.script.append((404, {"error": {"message": "model not found"}}, {}))
    with pytest.raises(ExpansionError, match="'test-model' is not served") as error:
        llm.expand("a cat", 1)
    _assert_no_key(error)


def test_llm_429_is_retried_then_succeeds(chat, llm):
    chat.script += [(429, {"error": "slow down"}, {"Retry-After": "0"}), (200, completion("a calm lake"), {})]
    assert llm.expand("a lake", 1) == "a calm lake"
    assert len(chat.requests) == 2


def test_llm_429_retries_are_bounded(chat, llm):
    chat.script += [(429, {"error": "slow down"}, {"Retry-After": "0"})] * 10
    with pytest.raises(ExpansionError, match="429"):
        llm.expand("a lake", 1)
    assert len(chat.requests) == llm.settings.max_retries + 1


def test_llm_backoff_grows_without_retry_after():
    import httpx

    from studio.expansion.llm import retry_delay

    response = httpx.Response(429)
    assert [retry_delay(response, attempt) for attempt in range(3)] == [0.5, 1.0, 2.0]
    assert retry_delay(httpx.Response(429, headers={"Retry-After": "3"}), 0) == 3.0


def test_llm_timeout_is_a_clear_message(chat, llm):
    chat.script.append((200, "hang", {}))
    with pytest.raises(ExpansionError, match="did not answer within 0.5 s") as error:
        llm.expand("a cat", 1)
    _assert_no_key(error)


def test_llm_malformed_reply_is_a_clear_message(chat, llm):
    chat.script += [(200, "this is not json", {}), (200, {"choices": []}, {})]
    for _ in range(2):
        with pytest.raises(ExpansionError, match="not a chat completion") as error:
            llm.expand("a cat", 1)
        _assert_no_key(error)


def test_llm_unreachable_endpoint_names_the_url(monkeypatch):
    from studio.expansion.llm import LLMExpander

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv(KEY_ENV, KEY)
    expander = LLMExpander(ExpansionSettings(mode="llm", base_url=base_url, api_key_env=KEY_ENV, timeout=2))
    with pytest.raises(ExpansionError, match="Could not reach") as error:
        expander.expand("a cat", 1)
    assert base_url in str(error.value)
    _assert_no_key(error)


def test_cli_expand_llm_error_exits_2(chat, monkeypatch, capsys):
    from studio.cli import main

    monkeypatch.setenv(KEY_ENV, KEY)
    chat.script.append((404, {"error": {"message": "gone"}}, {}))
    code = main(
        [
            "expand",
            "a cat",
            "--seed",
            "1",
            "--mode",
            "llm",
            "--llm-url",
            chat.base_url,
            "--llm-model",
            "old",
            "--llm-key-env",
            KEY_ENV,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "'old' is not served" in err and KEY not in err


def test_cli_expand_llm_success(chat, capsys):
    from studio.cli import main

    chat.script.append((200, completion("a tabby cat on a windowsill, morning light"), {}))
    assert (
        main(["expand", "a cat", "--seed", "5", "--mode", "llm", "--llm-url", chat.base_url, "--llm-model", "m"]) == 0
    )
    line = json.loads(capsys.readouterr().out)
    assert line == {
        "prompt": "a cat",
        "expansion": "a tabby cat on a windowsill, morning light",
        "seed": 5,
        "mode": "llm",
    }
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
