"""Time from `python app.py --model tiny` to the first finished image, measured from outside.

The app runs as a subprocess on 127.0.0.1 (a free port, temporary models and output folders, offline); the
clock starts before the process does and stops when the first image is back. The image is asked for through
the Gradio endpoint (`/generate`, as gradio_client calls it); if that fails, through the HTTP API
(`POST /v1/generate`, then `GET /v1/jobs/{id}`). The tiny model is built into the empty models folder on the way,
as on a fresh machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "sampler": "Euler"}


class StartupFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_serving(base: str, process: subprocess.Popen, timeout: float) -> str:
    """Poll /health (the API), else / (the UI), until one answers 200; returns the path that did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupFailed(f"app.py exited with code {process.returncode} before serving")
        for path in ("/health", "/"):
            try:
                if _get(base + path, timeout=2)[0] == 200:
                    return path
            except (OSError, urllib.error.URLError):
                pass
        time.sleep(0.1)
    raise StartupFailed(f"app.py did not serve {base} within {timeout:.0f} s")


def image_via_gradio(base: str) -> str:
    from gradio_client import Client

    reply = Client(base + "/", verbose=False).predict(
        prompt="a red cube on a table", image_count=1, seed=1, api_name="/generate", **FAST
    )
    if not reply.get("images"):
        raise StartupFailed(f"/generate answered without images: {str(reply)[:200]}")
    return "gradio /generate"


def image_via_api(base: str, timeout: float) -> str:
    body = json.dumps({"prompt": "a red cube on a table", "seed": 1, "image_count": 1, **FAST}).encode()
    post = urllib.request.Request(
        base + "/v1/generate", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(post, timeout=30) as reply:
        job = json.loads(reply.read())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _status, payload = _get(f"{base}/v1/jobs/{job['id']}?wait=10", timeout=20)
        job = json.loads(payload)
        state = str(job.get("state", ""))
        if state in ("done", "finished", "succeeded", "completed"):
            return "POST /v1/generate"
        if state in ("failed", "error", "cancelled", "canceled"):
            raise StartupFailed(f"the API job ended {state}: {str(job)[:300]}")
    raise StartupFailed("the API job did not finish in time")


def measure_startup(timeout: float = 300.0) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = folder / "app.log"
        command = [sys.executable, "app.py", "--model", "tiny", "--port", str(port), "--offline",
                   "--models-dir", str(folder / "models"), "--output-dir", str(folder / "outputs")]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                probe = wait_until_serving(base, process, timeout)
                serving = time.perf_counter() - started
                errors = []
                route = None
                for attempt in (lambda: image_via_gradio(base), lambda: image_via_api(base, timeout)):
                    try:
                        route = attempt()
                        break
                    except Exception as error:  # noqa: BLE001 - try the other route, report both
                        errors.append(f"{type(error).__name__}: {str(error)[:300]}")
                if route is None:
                    raise StartupFailed("no image came back: " + " | ".join(errors))
                first_image = time.perf_counter() - started
            except StartupFailed as error:
                tail = log_path.read_text(errors="replace")[-1500:]
                raise StartupFailed(f"{error}\n--- app.py output (tail) ---\n{tail}") from None
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return {
        "benchmark": "app_start_to_first_image",
        "command": "python app.py --model tiny --port <free> --offline (fresh models folder)",
        "ready_probe": probe,
        "route": route,
        "serving_s": round(serving, 2),
        "first_image_s": round(first_image, 2),
        "image": "64x64, 2 steps",
    }
