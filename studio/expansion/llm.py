"""The LLM expander: any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama, llama.cpp
server, vLLM), over plain httpx.

The API key is read from the environment variable the settings name, at request time; it is sent only in the
Authorization header and is scrubbed from any text that reaches an error message.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

import httpx

from studio.expansion.cache import LRUCache
from studio.expansion.protocol import ExpansionError
from studio.expansion.settings import ExpansionSettings

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You write prompts for the SDXL text-to-image model. Rewrite the user's idea as ONE detailed English "
    "prompt: the subject first, then setting, composition, lighting, colours, mood, medium and style, as "
    "comma-separated phrases, under 60 words. If the idea is not in English (for example Chinese), translate "
    "it into English first. Answer with the prompt only: no introduction, no quotes, no notes, no lists."
)
MAX_TOKENS = 200
RETRY_STATUSES = (429, 503)
BACKOFF_BASE_S = 0.5
MAX_RETRY_AFTER_S = 60.0
MAX_SERVER_DETAIL = 200


class LLMExpander:
    def __init__(
        self,
        settings: ExpansionSettings,
        *,
        cache_entries: int = 256,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.cache = LRUCache(cache_entries)
        self._sleep = sleep
        self._client = httpx.Client(timeout=httpx.Timeout(settings.timeout), transport=transport)

    def close(self) -> None:
        self._client.close()

    def expand(self, prompt: str, seed: int) -> str:
        prompt = prompt.strip()
        if not prompt:
            return ""
        key = (prompt, self.settings.model, seed, self.settings.temperature)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        expansion = self._request(prompt, seed)
        self.cache.put(key, expansion)
        return expansion

    def _api_key(self) -> str:
        return os.environ.get(self.settings.api_key_env, "") if self.settings.api_key_env else ""

    def _request(self, prompt: str, seed: int) -> str:
        key = self._api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {
            "model": self.settings.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
            "temperature": self.settings.temperature,
            "seed": seed,
            "max_tokens": MAX_TOKENS,
            "stream": False,
        }
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            response = self._post(body, headers)
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                delay = retry_delay(response, attempt)
                log.info("LLM endpoint answered %s; retrying in %.1f s", response.status_code, delay)
                self._sleep(delay)
                continue
            return self._read(response, key)
        raise AssertionError("unreachable")

    def _post(self, body: dict, headers: dict) -> httpx.Response:
        base = self.settings.base_url
        try:
            return self._client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise ExpansionError(
                f"The LLM endpoint {base} did not answer within {self.settings.timeout:g} s; "
                "check that it is running, or raise the expansion timeout."
            ) from None
        except httpx.HTTPError as error:
            raise ExpansionError(
                f"Could not reach the LLM endpoint {base} ({type(error).__name__}); check the base URL "
                "and that the server is running."
            ) from None

    def _read(self, response: httpx.Response, key: str) -> str:
        s = self.settings
        status = response.status_code
        detail = scrub(server_detail(response), key)
        if status in (401, 403):
            raise ExpansionError(
                f"The LLM endpoint {s.base_url} refused the API key ({status}); put a valid key in the "
                f"environment variable {s.api_key_env}." + (f" Server said: {detail}" if detail else "")
            )
        if status == 404:
            raise ExpansionError(
                f"Model '{s.model}' is not served by {s.base_url} (404): it may have been retired or renamed; "
                "choose another LLM model (or check that the base URL ends in /v1)."
                + (f" Server said: {detail}" if detail else "")
            )
        if status == 429:
            raise ExpansionError(f"The LLM endpoint {s.base_url} is rate limiting requests (429); try again later.")
        if status >= 400:
            raise ExpansionError(
                f"The LLM endpoint {s.base_url} answered {status}." + (f" Server said: {detail}" if detail else "")
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ExpansionError(
                f"The LLM endpoint {s.base_url} sent a reply that is not a chat completion; "
                "check that the base URL points at an OpenAI-compatible API."
            ) from None
        expansion = clean_reply(content) if isinstance(content, str) else ""
        if not expansion:
            raise ExpansionError(f"The LLM endpoint {s.base_url} returned an empty prompt for model '{s.model}'.")
        return expansion


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before the next attempt: the server's Retry-After, else exponential backoff."""
    header = response.headers.get("retry-after", "")
    try:
        delay = float(header)
    except ValueError:
        delay = BACKOFF_BASE_S * 2**attempt
    return min(max(delay, 0.0), MAX_RETRY_AFTER_S)


def server_detail(response: httpx.Response) -> str:
    """The server's own error message, shortened, if it sent one in the usual shape."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        return ""
    return str(message)[:MAX_SERVER_DETAIL] if message else ""


def scrub(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text


THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
LABEL = re.compile(r"^\s*(?:prompt|sdxl prompt|here is[^:]*)\s*:\s*", re.IGNORECASE)


def clean_reply(content: str) -> str:
    """The prompt alone: no reasoning block, label, wrapping quotes or line breaks."""
    text = THINKING.sub("", content).strip()
    text = LABEL.sub("", text).strip().strip("`").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return " ".join(text.split())
