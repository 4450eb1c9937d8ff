"""The served API against a hostile client: every bad request is a 4xx naming its field before anything is
queued, no 500s, long polls hold no thread, comparisons are queued jobs in folders of their own."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image, PngImagePlugin

from studio.jobqueue import Job, JobQueue
from studio.outputs import STUDIO_CHUNK, read_request
from studio.types import GenerationRequest, InvalidRequest
from tests.serving_helpers import FAST, USERS, WAIT, api, b64, serving

GOOD = {"prompt": "a cube", "seed": 1, **FAST}
JSON = {"Content-Type": "application/json"}


def picture(kind: str = "PNG", color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format=kind)
    return buffer.getvalue()


def png_with_metadata(text: str) -> bytes:
    """A PNG whose `studio` chunk holds `text` (what a crafted upload can carry)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(STUDIO_CHUNK, text)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def assert_error(reply: httpx.Response, status: int, field: str | None) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["field"] == field and error["message"], error
    assert set(reply.json()) == {"error"}
    return error


def assert_nothing_queued(url: str, user: int) -> None:
    with api(url, user) as client:
        listed = client.get("/v1/jobs")
        assert listed.status_code == 200 and listed.json() == []


@pytest.fixture(scope="module")
def stored_hash(url) -> str:
    with api(url, 0) as client:
        return client.post("/v1/inputs", json={"image": b64(picture())}).json()["image"]


# --- lone surrogates: JSON's "\ud800" decodes to a str no file, chunk or response can hold -------------------

SURROGATE = "\\ud800"  # as it stands in the JSON text
SURROGATE_BODIES = {
    "prompt": ('"prompt": "a {s} cube"', "prompt"),
    "negative_prompt": ('"prompt": "x", "negative_prompt": "{s}"', "negative_prompt"),
    "style": ('"prompt": "x", "styles": ["Film Noir", "{s}"]', "styles[1]"),
    "lora name": ('"prompt": "x", "loras": [{{"name": "{s}", "weight": 1}}]', "loras[0].name"),
    "sampler": ('"prompt": "x", "sampler": "Eu{s}ler"', "sampler"),
    "model": ('"prompt": "x", "model": "{s}"', "model"),
    "performance": ('"prompt": "x", "performance": "{s}"', "performance"),
    "expansion": ('"prompt": "x", "expansion": "{s}"', "expansion"),
    "image prompt": (
        '"prompt": "x", "image_prompts": [{{"image": "{s}", "type": "ImagePrompt"}}]',
        "image_prompts[0].image",
    ),
    "edit image": ('"prompt": "x", "edit": {{"kind": "vary", "image": "{s}"}}', "edit.image"),
}


@pytest.mark.parametrize("name", list(SURROGATE_BODIES))
def test_a_lone_surrogate_in_any_field_is_422_naming_it_and_nothing_is_queued(url, name):
    fields, field = SURROGATE_BODIES[name]
    body = ("{" + fields.format(s=SURROGATE) + ', "seed": 1, "width": 32, "height": 32, "steps": 2}').encode()
    with api(url, 1) as client:
        assert_error(client.post("/v1/generate", content=body, headers=JSON), 422, field)
        assert client.get("/health").json()["status"] == "ok"
    assert_nothing_queued(url, 1)


def test_a_lone_surrogate_in_a_key_is_echoed_safely(url):
    with api(url, 1) as client:
        reply = client.post("/v1/generate", content=b'{"prompt": "x", "k\\ud800y": 1}', headers=JSON)
        assert reply.status_code == 422
        assert reply.json()["error"]["field"] == "k\\ud800y"  # escaped, so the answer is valid UTF-8
        for path, body in [
            ("/v1/expand", b'{"prompt": "\\udfff"}'),
            ("/v1/expand", b'{"prompt": "x", "\\ud800": 1}'),
            ("/v1/compare", b'{"request": {"prompt": "\\ud800"}, "samplers": ["Euler"], "step_counts": [2]}'),
            ("/v1/compare", b'{"request": {"prompt": "x"}, "samplers": ["\\ud800"], "step_counts": [2]}'),
            ("/v1/inputs", b'{"image": "\\ud800"}'),
            ("/v1/metadata", b'{"image": "\\ud800"}'),
        ]:
            reply = client.post(path, content=body, headers=JSON)
            assert reply.status_code == 422, (path, reply.text)
            assert reply.json()["error"]["field"] in ("prompt", "samplers[0]", "image", "\\ud800"), reply.text
    assert_nothing_queued(url, 1)


def test_metadata_with_a_lone_surrogate_is_refused_and_inputs_never_fail_on_it(url):
    crafted = png_with_metadata('{"version": 1, "request": {"prompt": "a \\ud800 cube"}}')
    with api(url, 2) as client:
        assert_error(client.post("/v1/metadata", json={"image": b64(crafted)}), 422, "prompt")
        stored = client.post("/v1/inputs", json={"image": b64(crafted)})  # the chunk is not kept: only pixels
        assert stored.status_code == 200 and len(stored.json()["image"]) == 64


def test_the_job_list_never_fails_on_a_job_that_cannot_be_written(served):
    app, url, _ = served
    bad = GenerationRequest(prompt="\ud800", cfg_scale=float("nan"))
    app.jobs._jobs["planted"] = Job(id="planted", owner=f"user:{USERS[3][0]}", request=bad)
    try:
        with api(url, 3) as client:
            for path in ("/v1/jobs", "/v1/jobs/planted"):
                reply = client.get(path)
                assert reply.status_code == 200, reply.text
                assert "NaN" not in reply.text
    finally:
        del app.jobs._jobs["planted"]


# --- names and input images are checked when a request is submitted --------------------------------------------

UNKNOWN_NAMES = {
    "third style": ({"styles": ["Film Noir", "Watercolor Wash", "No Such Style"]}, "styles[2]"),
    "style path": ({"styles": ["../../etc/passwd"]}, "styles[0]"),
    "LoRA slot": ({"loras": [{"name": "nope", "weight": 1}]}, "loras[0].name"),
    "LoRA path": ({"loras": [{"name": "../../models/x", "weight": 1}]}, "loras[0].name"),
    "inline LoRA": ({"prompt": "a cube <lora:nope:0.8>"}, "prompt"),
    "inline LoRA path": ({"prompt": "a cube <lora:../../secret:1>"}, "prompt"),
    "wildcard": ({"prompt": "a __no_such_wildcard__ cube"}, "prompt"),
    "image prompt hash": ({"image_prompts": [{"image": "0" * 64, "type": "ImagePrompt"}]}, "image_prompts[0].image"),
    "edit image hash": ({"edit": {"kind": "vary", "image": "f" * 64}}, "edit.image"),
    "edit image not a hash": ({"edit": {"kind": "vary", "image": "../../etc/passwd"}}, "edit.image"),
}


@pytest.mark.parametrize("name", list(UNKNOWN_NAMES))
def test_unknown_names_and_missing_inputs_are_422_before_queuing(url, served, name):
    fields, field = UNKNOWN_NAMES[name]
    settings = served[2].settings
    with api(url, 4) as client:
        error = assert_error(client.post("/v1/generate", json={**GOOD, **fields}), 422, field)
        assert str(settings.models_dir) not in error["message"] and str(settings.output_dir) not in error["message"]
    assert_nothing_queued(url, 4)


def test_missing_mask_is_named_and_known_names_still_work(url, stored_hash):
    edit = {"kind": "inpaint", "image": stored_hash, "mask": "a" * 64}
    with api(url, 5) as client:
        assert_error(client.post("/v1/generate", json={**GOOD, "edit": edit}), 422, "edit.mask")
        reply = client.post("/v1/generate", json={**GOOD, "styles": ["Random style", "Film Noir"]})
        assert reply.status_code == 202, reply.text
        assert client.get(reply.json()["url"], params=WAIT).json()["state"] == "done"


def test_the_check_is_shared_by_every_front_end(tiny_services, tiny_request):
    """The UI and the CLI submit through the job queue or `Engine.run`, which validate the same way."""
    engine = tiny_services.engine
    for bad, field in [
        (dataclasses.replace(tiny_request, styles=("Film Noir", "Nope")), "styles[1]"),
        (dataclasses.replace(tiny_request, prompt="x <lora:../x:1>"), "prompt"),
        (dataclasses.replace(tiny_request, prompt="x\ud800"), "prompt"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            engine.run(bad)
        assert caught.value.field == field
        queue = JobQueue(engine, tiny_services.store)  # not started: a submitted job would stay in it
        with pytest.raises(InvalidRequest):
            queue.submit(bad, "someone")
        assert queue.counts() == {"queued": 0, "running": 0}


# --- cross-site requests: Content-Type and Host -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"],
)
def test_posts_without_a_json_content_type_are_415(url, content_type):
    body = json.dumps(GOOD).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    with api(url, 6) as client:
        before = len(client.get("/v1/jobs").json())
        for path in ("/v1/generate", "/v1/compare", "/v1/metadata", "/v1/inputs", "/v1/expand"):
            assert_error(client.post(path, content=body, headers=headers), 415, "content-type")
        assert len(client.get("/v1/jobs").json()) == before
        ok = client.post("/v1/generate", content=body, headers={"Content-Type": "Application/JSON; charset=utf-8"})
        assert ok.status_code == 202
        assert client.get(ok.json()["url"], params=WAIT).json()["state"] == "done"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhostx"])
def test_a_foreign_host_header_is_refused_and_served_names_are_answered(url, host):
    with api(url, 7) as client:
        for method, path in [("GET", "/health"), ("GET", "/v1/samplers"), ("POST", "/v1/generate"), ("GET", "/")]:
            reply = client.request(method, path, json=GOOD, headers={"Host": host})
            assert_error(reply, 421, "host")
        port = url.rsplit(":", 1)[1]
        for served_name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert client.get("/v1/samplers", headers={"Host": served_name}).status_code == 200, served_name
    assert_nothing_queued(url, 7)


def test_allowed_hosts_follow_the_listen_address_and_allowed_host_options():
    from app import parse_settings
    from studio.api_guards import AllowedHosts
    from studio.settings import SettingsError

    loopback = AllowedHosts.for_settings(parse_settings([]))
    assert loopback.allows("127.0.0.1:7865") and loopback.allows("[::1]:7865") and not loopback.allows("a.example")
    everywhere = AllowedHosts.for_settings(parse_settings(["--listen", "--insecure"]))
    assert everywhere.allows("studio.lan") and everywhere.allows("192.168.1.5:7865")
    named = AllowedHosts.for_settings(
        parse_settings(["--listen", "--insecure", "--allowed-host", "studio.lan", "--allowed-host", "10.0.0.2"])
    )
    assert named.allows("Studio.LAN:7865") and named.allows("10.0.0.2") and named.allows("localhost")
    assert not named.allows("evil.example")
    one_address = AllowedHosts.for_settings(parse_settings(["--listen", "192.168.1.5", "--insecure"]))
    assert one_address.allows("192.168.1.5:7865") and not one_address.allows("evil.example")
    named.add("abc123.gradio.live")  # what a share link adds once it is open
    assert named.allows("abc123.gradio.live")
    for bad in ("*", "http://x.example", "x.example/path", "a b"):
        with pytest.raises(SettingsError, match="--allowed-host"):
            parse_settings(["--allowed-host", bad])


# --- metadata that is JSON but no request -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, field",
    [
        ("[" * 30_000 + "]" * 30_000, "metadata"),
        ('{"version": 1, "request": ' + '{"a": ' * 9_000 + "1" + "}" * 9_001, "metadata"),
        ('{"version": 1, "request": {"prompt": "x", "cfg_scale": NaN}}', "cfg_scale"),
        ('{"version": 1, "request": {"prompt": "x", "cfg_scale": -Infinity}}', "cfg_scale"),
        ('{"version": 1, "request": {"prompt": "x", "cfg_scale": 1e999}}', "cfg_scale"),
        ('{"version": 1, "request": {"prompt": "x", "seed": ' + "9" * 5000 + "}}", "metadata"),
    ],
    ids=["deep list", "deep request", "NaN", "-Infinity", "1e999", "5000 digits"],
)
def test_metadata_that_no_request_has_is_422(url, text, field, tmp_path):
    with api(url, 0) as client:
        reply = client.post("/v1/metadata", json={"image": b64(png_with_metadata(text))})
        assert_error(reply, 422, field)
        assert "NaN" not in reply.text and "null" not in reply.text
    path = tmp_path / "crafted.png"
    path.write_bytes(png_with_metadata(text))
    with pytest.raises(InvalidRequest) as caught:  # Load parameters in the UI reads it the same way
        read_request(path)
    assert caught.value.field == field


# --- routes ------------------------------------------------------------------------------------------------------


def test_image_indexes_that_are_digits_but_not_ascii_are_404(url):
    with api(url, 0) as client:
        job = client.post("/v1/generate", json=GOOD).json()
        assert client.get(job["url"], params=WAIT).json()["state"] == "done"
        for index in ("²", "٣", "0²", "１"):
            assert_error(client.get(f"{job['url']}/images/{index}"), 404, "index")
        assert client.get(f"{job['url']}/images/0").status_code == 200


def test_unknown_routes_and_methods_answer_the_error_shape(url):
    with api(url, 0) as client:
        for path in ("/v1/nope", "/v1", "/v1/jobs/x/y/z", "/v1/generate/extra"):
            assert_error(client.get(path), 404, None)
        reply = client.put("/v1/generate", json=GOOD)
        assert_error(reply, 405, None)
        assert reply.headers["allow"] == "POST"
        assert_error(client.delete("/v1/samplers"), 405, None)
        assert_error(client.post("/v1/jobs/some-id", json={}), 405, None)
        assert_error(client.post("/health", json={}), 405, None)
        assert client.get("/v1/openapi.json").status_code == 200


@pytest.mark.parametrize("kind", ["GIF", "BMP", "TIFF", "EPS"])
def test_inputs_take_png_jpeg_and_webp_only(url, kind):
    data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n" if kind == "EPS" else picture(kind)
    with api(url, 0) as client:
        error = assert_error(client.post("/v1/inputs", json={"image": b64(data)}), 422, "image")
        assert "PNG or JPEG or WEBP" in error["message"]
        for accepted in ("PNG", "JPEG", "WEBP"):
            assert client.post("/v1/inputs", json={"image": b64(picture(accepted))}).status_code == 200


def test_error_messages_hold_no_server_paths(url, served):
    output_dir = str(served[2].settings.output_dir)
    with api(url, 0) as client:
        for body in ({**GOOD, "loras": [{"name": "nope", "weight": 1}]}, {**GOOD, "model": "/etc/passwd"}):
            reply = client.post("/v1/generate", json=body)
            assert reply.status_code == 422 and output_dir not in reply.text and "/tmp/" not in reply.text
        reply = client.post("/v1/expand", json={"prompt": "a robot", "seed": 1, "mode": "local"})
        assert reply.status_code == 502 and str(served[2].settings.models_dir) not in reply.text


# --- prompt cost ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, text",
    [
        ("prompt", "(" * 2000 + "a" + ")" * 2000),
        ("prompt", "[a] b " * 20),
        ("negative_prompt", "(ugly:0.5), " * 17),
    ],
    ids=["2000 deep", "20 de-emphasised", "17 de-emphasised negatives"],
)
def test_prompts_that_would_cost_minutes_to_encode_are_refused(url, field, text):
    with api(url, 4) as client:
        assert_error(client.post("/v1/generate", json={**GOOD, field: text}), 422, field)
    assert_nothing_queued(url, 4)


def test_emphasis_is_parsed_as_compel_parsed_it():
    from compel.prompt_parser import PromptParser

    from studio.prompt_weights import to_compel_syntax, weighted_fragments

    for text in [
        "a (red:1.5) cube, [blurry], ((big))",
        "photo of (a red:1.3) cube, [blurry], ((masterpiece:1.2), best) \\(literal\\)",
        "a (b) (c) unclosed ( here",
        "",
    ]:
        [parsed] = PromptParser().parse_conjunction(to_compel_syntax(text)).prompts
        expected = [(fragment.text, fragment.weight) for fragment in parsed.children]
        ours = weighted_fragments(text)
        assert [t for t, _ in ours] == [t for t, _ in expected]
        assert [w for _, w in ours] == pytest.approx([w for _, w in expected])
    nested = weighted_fragments("((((a)))) b " * 400)  # parsed in one pass (compel's parser: about a minute)
    assert nested[0] == ("a", pytest.approx(1.1**4))


# --- long polls and /health ---------------------------------------------------------------------------------------


class GatedEngine:
    """The tiny engine, except that each job waits at `gate` before it runs (so jobs stay unfinished)."""

    def __init__(self, engine):
        self.engine, self.gate = engine, threading.Event()

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def run(self, *args, **kwargs):
        self.gate.wait(120)
        return self.engine.run(*args, **kwargs)


class CountingQueue(JobQueue):
    """Counts the long polls waiting on it, whichever way the API waits, and says when `enough` are."""

    def __init__(self, *args, enough: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting, self.enough, self.lock = 0, enough, threading.Lock()
        self.reached = threading.Event()

    def _count(self) -> None:
        with self.lock:
            self.waiting += 1
            if self.waiting >= self.enough:
                self.reached.set()

    def on_finished(self, job, callback):
        self._count()
        return super().on_finished(job, callback)

    def wait_finished(self, job, timeout):
        self._count()
        return super().wait_finished(job, timeout)


@pytest.fixture(scope="module")
def gated(tiny_services):
    from tests.serving_helpers import TOKEN

    settings = dataclasses.replace(tiny_services.settings, auth_users=USERS, api_tokens=(TOKEN,))
    services = dataclasses.replace(tiny_services, settings=settings)
    engine = GatedEngine(tiny_services.engine)
    # 40 is the thread pool's size: a long poll that holds a thread can never get past it
    queue = CountingQueue(engine, tiny_services.store, per_owner=2, enough=40)
    with serving(services, jobs=queue) as (_, url):
        yield url, queue, engine
        engine.gate.set()


def test_48_long_polls_leave_health_answering_at_once(gated):
    url, queue, engine = gated
    with api(url, 0) as client:
        job = client.post("/v1/generate", json=GOOD).json()

    def long_poll(_):
        with api(url, 0) as poller:
            return poller.get(job["url"], params={"wait": 10})

    with ThreadPoolExecutor(48) as pool:
        polls = [pool.submit(long_poll, n) for n in range(48)]
        assert queue.reached.wait(60), "the long polls never reached the server"
        started = time.perf_counter()
        health = httpx.get(url + "/health", timeout=30)
        answered = time.perf_counter() - started
        engine.gate.set()
        replies = [poll.result() for poll in polls]
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert answered < 0.5, f"/health took {answered:.2f} s under 48 long polls"
    assert all(reply.status_code == 200 and reply.json()["state"] == "done" for reply in replies)


def test_compare_is_a_queued_job_under_the_per_user_limit(gated):
    url, _, engine = gated
    engine.gate.clear()
    body = {"request": {"prompt": "limited", "seed": 5, "width": 32, "height": 32}, "samplers": ["Euler"],
            "step_counts": [2]}  # fmt: skip
    try:
        with api(url, 1) as client:
            ids = [client.post("/v1/generate", json=GOOD).json()["id"] for _ in range(2)]  # the limit is 2
            assert_error(client.post("/v1/compare", json=body), 429, "queue")
            assert len(client.get("/v1/jobs").json()) == 2
    finally:
        engine.gate.set()
    with api(url, 1) as client:
        assert [client.get(f"/v1/jobs/{i}", params=WAIT).json()["state"] for i in ids] == ["done", "done"]


# --- concurrent comparisons ------------------------------------------------------------------------------------


class SameSecond(datetime):
    """Every comparison starts in the same second, the case where two used to share a folder."""

    @classmethod
    def now(cls, tz=None):
        return cls(2030, 1, 2, 3, 4, 5)


def test_two_comparisons_with_one_seed_in_one_second_keep_apart(url, served, monkeypatch):
    import studio.api_tools

    monkeypatch.setattr(studio.api_tools, "datetime", SameSecond)
    root = Path(served[2].settings.output_dir)

    def compare(user: int) -> dict:
        body = {"request": {"prompt": f"user {user}'s cube", "seed": 9, "width": 32, "height": 32},
                "samplers": ["Euler", "DDIM"], "step_counts": [2, 3]}  # fmt: skip
        with api(url, user) as client:
            reply = client.post("/v1/compare", json=body)
            assert reply.status_code == 200, reply.text
            return reply.json()

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(compare, (2, 3))
    assert first["folder"] != second["folder"]
    for user, result in ((2, first), (3, second)):
        cells = [root / cell["path"] for cell in result["metrics"]["cells"]]
        assert len(cells) == 4
        assert {read_request(path).prompt for path in cells} == {f"user {user}'s cube"}
        assert all(Path(result["folder"]) in path.relative_to(root).parents for path in cells)
        made = sorted(p.name for p in (root / result["folder"]).rglob("*.png") if p.parent != root / result["folder"])
        assert len(made) == 4  # only its own cells are in its folder
        with api(url, user) as client:  # it was a job of the queue, listed like any other
            job = client.get(f"/v1/jobs/{result['id']}").json()
            assert job["kind"] == "compare" and job["state"] == "done"
