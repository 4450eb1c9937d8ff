"""Each user sees only their own images: with logins on, images are saved in the owner's own space, History
lists only the caller's, and gradio's file routes refuse another user's PNG. With logins off nothing changes.

Driven for real: the served app (API + UI) on 127.0.0.1, gradio's login form, gradio_client, and the page's
own History event called the way the browser calls it (queue/join, then the event stream).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from gradio_client import Client
from PIL import Image

from studio.auth import Auth
from studio.outputs import OutputStore, space_folder
from studio.types import GenerationRequest
from studio.ui.fields import FIELD_NAMES, default_values
from tests.serving_helpers import FAST, WAIT, serving

USERS = (("a", "pa"), ("b", "pb"))
TOKENS = ("first-token-0123456789", "second-token-0123456789")


def studio_with(tiny_services, output_dir: Path, **auth):
    """The tiny studio writing to its own outputs folder, with the given auth settings."""
    settings = dataclasses.replace(tiny_services.settings, output_dir=output_dir, **auth)
    return dataclasses.replace(tiny_services, settings=settings, store=OutputStore(output_dir))


@pytest.fixture(scope="module")
def isolated(tiny_services, tmp_path_factory):
    """`(served app, URL, outputs folder)` with users a and b and two API tokens."""
    output_dir = tmp_path_factory.mktemp("isolated-outputs")
    services = studio_with(tiny_services, output_dir, auth_users=USERS, api_tokens=TOKENS)
    with serving(services) as (app, url):
        yield app, url, output_dir


@pytest.fixture(scope="module")
def open_studio(tiny_services, tmp_path_factory):
    """`(served app, URL, outputs folder)` with auth off: one user, as before."""
    output_dir = tmp_path_factory.mktemp("open-outputs")
    with serving(studio_with(tiny_services, output_dir)) as (app, url):
        yield app, url, output_dir


@contextmanager
def logged_in(url: str, user: str, password: str) -> Iterator[httpx.Client]:
    """A browser: logged in through gradio's login form (its cookie is sent with every request after)."""
    with httpx.Client(base_url=url, timeout=120) as browser:
        reply = browser.post("/login", data={"username": user, "password": password})
        assert reply.status_code == 200, reply.text
        yield browser


def api_image(app, url: str, seed: int, owner: str, **auth) -> str:
    """Make one image through the HTTP API as `owner` (credentials in `auth`); its path on the server."""
    with httpx.Client(base_url=url, timeout=120, **auth) as client:
        job = client.post("/v1/generate", json={"prompt": f"api image {seed}", "seed": seed, **FAST})
        assert job.status_code == 202, job.text
        job = client.get(f"/v1/jobs/{job.json()['id']}", params=WAIT).json()
        assert job["state"] == "done", job
    return app.jobs.get(job["id"], owner).records[0].path


def bearer(token: str) -> dict:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def token_owner(token: str) -> str:
    return Auth(tokens=TOKENS).owner_of(f"Bearer {token}")


def ui_image(url: str, user: tuple[str, str] | None, seed: int, tiny_services) -> None:
    """Make one image through the UI's Generate (its programs' twin), logged in as `user` (None: no logins)."""
    values = {
        **default_values(tiny_services.manager.info),
        "prompt": f"ui image {seed}",
        "seed": str(seed),
        "random_seed": False,
        "image_count": 1,
        "steps": 2,
        "sampler": "Euler",
    }
    client = Client(url, auth=user, verbose=False)
    outputs = client.predict(*[values[name] for name in FIELD_NAMES], api_name="/ui_generate")
    assert any(str(seed) in str(item) for item in outputs[-1]), outputs


def page_history(app, browser: httpx.Client) -> set[int]:
    """The seeds History shows when this browser opens the page: the page's load event, called as the
    browser calls it, read from the file names of the gallery items it returns."""
    index = next(i for i, fn in app.blocks.fns.items() if getattr(fn.fn, "__name__", "") == "open_page")
    session = secrets.token_hex(8)
    joined = browser.post(
        "/gradio_api/queue/join",
        json={"data": [None], "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None},
    )
    assert joined.status_code == 200, joined.text
    with browser.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as events:
        for line in events.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                assert message["success"], message
                gallery = message["output"]["data"][1]
                return {int(re.search(r"_(\d+)(_\d+)?\.png$", item["image"]["orig_name"]).group(1)) for item in gallery}
    raise AssertionError("the History event never completed")


def file_routes(path: str) -> list[str]:
    """Every way to name `path` on gradio's file routes."""
    relative = os.path.relpath(path)
    return [
        f"/gradio_api/file={path}",
        f"/gradio_api/file/{path}",
        f"/gradio_api/file={quote(path, safe='')}",
        f"/gradio_api/file={quote(relative, safe='')}",  # encoded, or the client would drop the `..`
    ]


# --- spaces on disk -------------------------------------------------------------------------------------------


def test_space_folders_are_file_system_safe_distinct_and_never_a_date_folder():
    owners = ["user:a", "user:b", "user:A", "user:a b", "user:a-b", "user:a/b", "user:../..", "user:Ålice", "user:.",
              "token:0123456789ab", "user:" + "x" * 300, "user:a\\b"]
    folders = [space_folder(owner) for owner in owners]
    assert len(set(folders)) == len(owners)
    for folder in folders:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,60}", folder), folder
        assert not re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder) and folder not in ("inputs", "comparisons", "compare")
    # anonymous and the browser sessions of a studio without logins share the outputs folder itself
    assert space_folder("anonymous") is None and space_folder("ui:abc") is None


def test_a_space_saves_under_its_own_folder_and_lists_only_its_own_history(tmp_path):
    store = OutputStore(tmp_path)
    request = GenerationRequest(prompt="p", seed=1, width=64, height=64)
    mine = store.space("user:a").save(Image.new("RGB", (8, 8)), request)
    theirs = store.space("user:b").save(Image.new("RGB", (8, 8)), dataclasses.replace(request, seed=2))
    shared = store.space("anonymous").save(Image.new("RGB", (8, 8)), dataclasses.replace(request, seed=3))
    assert Path(mine.path).parent.parent == tmp_path / space_folder("user:a")
    assert Path(shared.path).parent.parent == tmp_path  # the layout without logins is unchanged
    assert [r.seed for r in store.space("user:a").history()] == [1]
    assert [r.seed for r in store.space("user:b").history()] == [2]
    assert [r.seed for r in store.history()] == [3]
    assert theirs.path not in {r.path for r in store.space("user:a").history()}


# --- logins on ------------------------------------------------------------------------------------------------


def test_another_users_png_is_refused_on_every_gradio_file_route(isolated):
    app, url, output_dir = isolated
    path = api_image(app, url, 5101, "user:a", auth=USERS[0])
    assert Path(path).resolve().is_relative_to((output_dir / space_folder("user:a")).resolve())
    b_space = output_dir / space_folder("user:b")
    around = str(b_space / ".." / Path(path).relative_to(output_dir))  # through b's own folder
    with logged_in(url, *USERS[0]) as owner, logged_in(url, *USERS[1]) as stranger:
        for route in file_routes(path):
            assert owner.get(route).status_code == 200, route  # the route works: a gets a's own image
            assert stranger.get(route).status_code in (403, 404), route
            assert stranger.head(route).status_code in (403, 404), route
        assert stranger.get(f"/gradio_api/file={quote(around, safe='')}").status_code in (403, 404)
        assert httpx.get(f"{url}/gradio_api/file={path}").status_code in (401, 403)  # not logged in
        # files in the outputs folder that are nobody's space: images from before logins, input images
        loose = output_dir / "2020-01-01" / "00-00-00_1.png"
        loose.parent.mkdir(exist_ok=True)
        Image.new("RGB", (4, 4)).save(loose)
        inputs = next((output_dir / "inputs").glob("*"), None) if (output_dir / "inputs").is_dir() else None
        for nobodys in [loose, *([inputs] if inputs else [])]:
            assert owner.get(f"/gradio_api/file={nobodys}").status_code in (403, 404)
            assert stranger.get(f"/gradio_api/file={nobodys}").status_code in (403, 404)
        # a file that does not exist is refused the same way: a refusal tells nothing
        missing = Path(path).with_name("00-00-00_999.png")
        assert stranger.get(f"/gradio_api/file={missing}").status_code == stranger.get(
            f"/gradio_api/file={path}"
        ).status_code


def test_history_lists_only_the_callers_images_from_the_ui_and_the_api(isolated, tiny_services):
    app, url, _ = isolated
    api_image(app, url, 5201, "user:a", auth=USERS[0])
    ui_image(url, USERS[0], 5202, tiny_services)
    api_image(app, url, 5203, "user:b", auth=USERS[1])
    ui_image(url, USERS[1], 5204, tiny_services)
    with logged_in(url, *USERS[0]) as a, logged_in(url, *USERS[1]) as b:
        mine, theirs = page_history(app, a), page_history(app, b)
    assert {5201, 5202} <= mine and not {5203, 5204} & mine
    assert {5203, 5204} <= theirs and not {5201, 5202} & theirs


def test_the_generate_endpoint_saves_in_the_callers_space_and_only_they_can_fetch_it(isolated):
    app, url, output_dir = isolated
    reply = Client(url, auth=USERS[0], verbose=False).predict(
        prompt="generate endpoint", seed=5301, api_name="/generate", **FAST
    )
    saved = Path(reply["images"][0]["saved_path"])
    assert saved.resolve().is_relative_to((output_dir / space_folder("user:a")).resolve())
    assert Path(reply["images"][0]["file"]).read_bytes() == saved.read_bytes()  # gradio_client fetched a's own
    with logged_in(url, *USERS[1]) as b:
        assert b.get(f"/gradio_api/file={saved}").status_code in (403, 404)
        assert 5301 not in page_history(app, b)


def test_token_logins_cannot_take_a_users_name_or_another_tokens_name(isolated):
    app, url, _ = isolated
    with httpx.Client(base_url=url) as browser:
        # a token holder may not log in to the UI as user a (and so into a's images)
        assert browser.post("/login", data={"username": "a", "password": TOKENS[0]}).status_code == 400
        assert browser.post("/login", data={"username": "t", "password": TOKENS[0]}).status_code == 200
        # the name is now the first token's: the second token is refused it
        assert browser.post("/login", data={"username": "t", "password": TOKENS[1]}).status_code == 400
    path = api_image(app, url, 5401, token_owner(TOKENS[0]), **bearer(TOKENS[0]))
    api_image(app, url, 5402, token_owner(TOKENS[1]), **bearer(TOKENS[1]))
    with logged_in(url, "t", TOKENS[0]) as holder, logged_in(url, *USERS[0]) as a:
        shown = page_history(app, holder)
        assert 5401 in shown and 5402 not in shown  # the token's own API images, in the UI
        assert holder.get(f"/gradio_api/file={path}").status_code == 200
        assert a.get(f"/gradio_api/file={path}").status_code in (403, 404)
        assert 5401 not in page_history(app, a)


# --- logins off -----------------------------------------------------------------------------------------------


def test_without_logins_everything_is_one_shared_folder_as_before(open_studio, tiny_services):
    app, url, output_dir = open_studio
    path = Path(api_image(app, url, 5501, "anonymous"))
    assert path.parent.parent == output_dir and re.fullmatch(r"\d{4}-\d{2}-\d{2}", path.parent.name)
    ui_image(url, None, 5502, tiny_services)  # another session's image
    with httpx.Client(base_url=url, timeout=120) as browser:
        assert browser.get(f"/gradio_api/file={path}").status_code == 200
        assert {5501, 5502} <= page_history(app, browser)
