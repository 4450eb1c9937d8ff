"""What the tests of the served studio share: credentials, a fast request, HTTP clients, crafted PNGs."""

from __future__ import annotations

import base64
import struct
import zlib
from contextlib import contextmanager

import httpx

USERS = tuple((f"user{i}", f"secret-{i}") for i in range(8))
TOKEN = "a-long-api-token-for-tests"
FAST = {"image_count": 1, "width": 32, "height": 32, "steps": 2, "cfg_scale": 5.0, "sampler": "Euler"}
WAIT = {"wait": 60}


@contextmanager
def serving(services, jobs=None):
    """`(served app, its URL)`: the real app (API + UI, one job queue: `jobs` if given) of `services` (auth as
    their settings say), served by uvicorn on a free 127.0.0.1 port until the block ends."""
    import socket
    import threading

    import uvicorn

    from studio.server import build_app

    app = build_app(services, jobs=jobs)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # bound before the server starts: clients queue until it serves, no polling
    server = uvicorn.Server(uvicorn.Config(app.app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        app.jobs.close()
        listener.close()


def api(url, user=0, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=url, auth=USERS[user], timeout=120, **kwargs)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims `width`×`height` pixels (a bomb needs no more than this)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)  # four rows of zeros, then the file ends
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
