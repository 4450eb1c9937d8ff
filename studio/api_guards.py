"""What every API request is checked for before a route uses it, and the JSON every API answer is written as.

- Host: a browser page on another site can reach this server through DNS rebinding (its own name, resolved to
  127.0.0.1), so the `Host` header must be a name the studio is served under: the loopback names, the
  `--listen` address, each `--allowed-host`, and a share link's host once it is open. Listening on all
  interfaces (`--listen` alone) with no `--allowed-host` accepts any name, since the studio cannot know them.
- Content-Type: a web page can send a "simple" cross-site POST (text/plain, form or multipart) without a CORS
  preflight, so POSTs to `/v1/*` must say `application/json`, which no page can send to another site unasked.
- Bodies: read up to a route's byte limit (413 past it), parsed as one JSON object (400/422 otherwise).
- Answers are strict JSON (no NaN) in UTF-8; a lone surrogate that got into a value is written as `\\ud800`
  rather than failing the response.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ALL_INTERFACES = ("0.0.0.0", "::", "[::]", "")
JSON_TYPE = "application/json"
BODY_METHODS = ("POST", "PUT", "PATCH")
# An absolute path of two or more parts (not one of the API's own `/v1/...` routes), as error texts written
# for the person at the server's console hold them (`/home/me/models/x.safetensors`).
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?!v1/)[\w.~+-]+(?:/[^\s'\"()<>,;:]*)+")


class ApiError(Exception):
    def __init__(self, status: int, field_name: str | None, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.field, self.message, self.headers = status, field_name, message, headers


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        raise ApiError(413, "body", f"is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body", f"is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ApiError(400, "body", "is empty; send a JSON object")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "body", "is not UTF-8 text; send a JSON object") from None
    except json.JSONDecodeError as error:
        raise ApiError(
            400, "body", f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (ValueError, RecursionError):  # numbers with thousands of digits, absurd nesting
        raise ApiError(400, "body", "is not JSON this server reads (a number too long or nesting too deep)") from None
    if not isinstance(data, dict):
        raise ApiError(422, "body", f"must be a JSON object, not {type(data).__name__}")
    return data


def base64_field(data: dict[str, Any], field: str, kind: str = "image") -> bytes:
    """The bytes of a base64 text field (a `data:` URL prefix allowed); 422 naming the field otherwise."""
    encoded = data.get(field)
    if not isinstance(encoded, str):
        raise ApiError(422, field, f"must be a base64-encoded {kind} (text)")
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, field, "is not valid base64") from None


class StrictJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def hide_paths(text: str) -> str:
    """`text` without the server's file paths: an API client is told what went wrong, not where."""
    return _SERVER_PATH.sub("<server path>", text)


def error_response(status: int, field: str | None, message: str, headers: dict | None = None) -> StrictJSONResponse:
    """The documented error shape: `{"error": {"field": ..., "message": ...}}`."""
    body = {"error": {"field": field, "message": hide_paths(message)}}
    return StrictJSONResponse(body, status_code=status, headers=headers)


def host_name(value: str) -> str:
    """The name part of a Host header or an address, lower case, without port or trailing dot
    (`[::1]:7865` -> `[::1]`, `::1` -> `[::1]`, `Example.COM.:80` -> `example.com`)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else value
    if value.count(":") > 1:  # a bare IPv6 address, as --listen takes it
        return f"[{value}]"
    name, colon, port = value.rpartition(":")
    if colon and port.isascii() and port.isdigit():
        value = name
    return value.rstrip(".")


class AllowedHosts:
    """The names the studio answers to; `add` takes more while serving (a share link's host)."""

    def __init__(self, names: tuple[str, ...] = LOOPBACK_NAMES, any_host: bool = False):
        self.any_host = any_host
        self._names = {host_name(name) for name in names}
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings) -> AllowedHosts:
        listen = host_name(settings.host) if settings.host not in ALL_INTERFACES else ""
        names = (*LOOPBACK_NAMES, *((listen,) if listen else ()), *settings.allowed_hosts)
        return cls(names, any_host=not listen and not settings.allowed_hosts)

    def add(self, name: str) -> None:
        with self._lock:
            self._names.add(host_name(name))

    def allows(self, host: str | None) -> bool:
        if self.any_host or host is None:  # no Host header: not a browser, so no DNS rebinding
            return True
        with self._lock:
            return host_name(host) in self._names


class RequestGuards:
    """ASGI middleware: the Host check on every request, the Content-Type check on POSTs to `/v1/*`."""

    def __init__(self, app, hosts: AllowedHosts):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", ())}
        problem = None
        if not self.hosts.allows(headers.get("host")):
            problem = error_response(
                421, "host", "this server is not served under that name (start it with --allowed-host NAME to add one)"
            )
        elif scope["type"] == "http" and scope["method"] in BODY_METHODS and _is_api(scope["path"]):
            media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
            if media_type != JSON_TYPE:
                problem = error_response(415, "content-type", f"must be {JSON_TYPE}: send a JSON object")
        if problem is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        return await problem(scope, receive, send)


def _is_api(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")
