"""The served studio (HTTP API + Gradio UI on one app, one job queue) started for real with uvicorn on
127.0.0.1 with auth on, driven by httpx and gradio_client: concurrency, isolation, cancel, auth, traversal."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError
from PIL import Image

from studio.auth import derived_token
from studio.outputs import OutputStore, read_request
from studio.ui.fields import FIELD_NAMES, default_values
from tests.serving_helpers import FAST, TOKEN, USERS, WAIT, api, b64, png_claiming


def test_forty_jobs_from_eight_concurrent_clients_all_finish_with_their_own_metadata(url, served):
    def client_run(user: int) -> list[tuple[dict, dict, bytes]]:
        with api(url, user) as client:
            submitted = []
            for k in range(5):
                body = {"prompt": f"client {user} job {k}", "seed": 1000 * user + k, **FAST}
                reply = client.post("/v1/generate", json=body)
                assert reply.status_code == 202, reply.text
                submitted.append((body, reply.json()["id"]))
            done = []
            for body, job_id in submitted:
                job = client.get(f"/v1/jobs/{job_id}", params=WAIT).json()
                assert job["state"] == "done", job
                assert len(job["images"]) == 1
                png = client.get(job["images"][0]["url"])
                assert png.status_code == 200 and png.headers["content-type"] == "image/png"
                done.append((body, job, png.content))
            return done

    with ThreadPoolExecutor(8) as pool:
        results = [item for items in pool.map(client_run, range(8)) for item in items]
    assert len(results) == 40
    paths = set()
    for body, job, png in results:
        recorded = read_request(Image.open(io.BytesIO(png)))
        assert (recorded.prompt, recorded.seed, recorded.width, recorded.steps) == (body["prompt"], body["seed"], 32, 2)
        assert job["images"][0]["request"]["seed"] == body["seed"] and job["request"]["prompt"] == body["prompt"]
        paths.add(job["images"][0]["url"])
    assert len(paths) == 40
    # every image is on disk and in its user's history a restarted server reads
    outputs = OutputStore(served[2].settings.output_dir)
    made = {(r.request.prompt, r.seed) for user, _ in USERS for r in outputs.space(f"user:{user}").history(10_000)}
    assert all((body["prompt"], body["seed"]) in made for body, _, _ in results)
    # a user sees only their own jobs
    with api(url, 0) as first, api(url, 1) as second:
        mine = {job["id"] for job in first.get("/v1/jobs").json()}
        theirs = {job["id"] for job in second.get("/v1/jobs").json()}
        assert len(mine) >= 5 and not mine & theirs
        other = next(iter(theirs))
        assert first.get(f"/v1/jobs/{other}").status_code == 404
        assert first.get(f"/v1/jobs/{other}/images/0").status_code == 404
        assert first.delete(f"/v1/jobs/{other}").status_code == 404


def test_cancel_of_one_job_leaves_the_others_running(url):
    with api(url, 2) as client, api(url, 3) as stranger:
        ids = [
            client.post("/v1/generate", json={"prompt": f"cancel test {k}", "seed": k, **FAST, "steps": 12}).json()[
                "id"
            ]
            for k in range(3)
        ]
        assert stranger.delete(f"/v1/jobs/{ids[0]}").status_code == 404  # not theirs: untouched
        cancelled = client.delete(f"/v1/jobs/{ids[1]}")
        assert cancelled.status_code == 200
        states = [client.get(f"/v1/jobs/{job_id}", params=WAIT).json() for job_id in ids]
    assert [job["state"] for job in states] == ["done", "cancelled", "done"]
    assert [len(job["images"]) for job in states] == [1, 0, 1]


def test_bearer_tokens_configured_and_derived(url):
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert client.get("/v1/samplers").status_code == 200
    user, password = USERS[4]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {derived_token(user, password)}"}) as client:
        names = [sampler["name"] for sampler in client.get("/v1/samplers").json()]
        assert "Euler" in names
        assert client.get("/v1/models").json()[0]["name"] == "tiny"
        assert client.get("/v1/styles").status_code == 200 and client.get("/v1/presets").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"user0:wrong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"nobody:secret-0").decode()},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Digest abc"},
    ],
)
def test_api_refuses_without_valid_credentials(url, headers):
    with httpx.Client(base_url=url, headers=headers) as client:
        for method, path in [
            ("POST", "/v1/generate"),
            ("GET", "/v1/jobs/x"),
            ("GET", "/v1/samplers"),
            ("DELETE", "/v1/jobs/x"),
        ]:
            reply = client.request(method, path, json={"prompt": "x"})
            assert reply.status_code == 401, (method, path)
            assert reply.json()["error"]["field"] == "authorization"
        assert client.get("/health").json()["status"] == "ok"


def test_ui_refuses_without_login(url):
    for method, path in [("GET", "/config"), ("GET", "/gradio_api/info"), ("POST", "/gradio_api/queue/join")]:
        assert httpx.request(method, url + path, json={}).status_code == 401, path
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(url, auth=("user0", "wrong"), verbose=False)


def test_only_the_outputs_folder_is_served_as_files(url):
    with httpx.Client(base_url=url) as browser, api(url, 5) as client:
        login = browser.post("/login", data={"username": USERS[5][0], "password": USERS[5][1]})
        assert login.status_code == 200 and browser.cookies
        job = client.post("/v1/generate", json={"prompt": "served file", "seed": 3, **FAST}).json()
        job = client.get(f"/v1/jobs/{job['id']}", params=WAIT).json()
        assert job["state"] == "done" and client.get(job["images"][0]["url"]).status_code == 200
        for path in [
            "/gradio_api/file=/etc/passwd",
            "/gradio_api/file=../../../../etc/passwd",
            "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/gradio_api/file=" + __file__,
        ]:
            assert browser.get(path).status_code in (403, 404), path
        for path in [
            f"/v1/jobs/{job['id']}/images/..%2F..%2F..%2Fetc%2Fpasswd",
            f"/v1/jobs/{job['id']}/images/-1",
            f"/v1/jobs/{job['id']}/images/1",
            "/v1/jobs/..%2F..%2Fetc%2Fpasswd/images/0",
            "/v1/jobs/%2e%2e/images/0",
        ]:
            reply = client.get(path)
            assert reply.status_code in (403, 404), path
            assert "root:" not in reply.text


def test_two_ui_sessions_never_see_each_others_results(url, tiny_services):
    base = {
        **default_values(tiny_services.manager.info),
        "image_count": 1,
        "random_seed": False,
        "steps": 2,
        "sampler": "Euler",
    }

    def generate(client: Client, seed: int) -> list[str]:
        values = {**base, "prompt": f"session image {seed}", "seed": str(seed)}
        _, summary, _, gallery = client.predict(*[values[name] for name in FIELD_NAMES], api_name="/ui_generate")
        assert summary.startswith("Done: 1 of 1"), summary
        return [item["caption"] for item in gallery]

    first = Client(url, auth=USERS[6], verbose=False)
    second = Client(url, auth=USERS[7], verbose=False)
    assert generate(first, 101) == ["101"]
    assert generate(second, 202) == ["202"]
    assert generate(first, 102) == ["102", "101"]
    assert generate(second, 203) == ["203", "202"]


# --- hostile and broken input -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def studio_png(tmp_path_factory, tiny_services):
    from studio.types import GenerationRequest

    request = GenerationRequest(
        prompt="from a png", seed=77, width=64, height=64, steps=2, sampler="Euler", model="tiny"
    )
    store = OutputStore(tmp_path_factory.mktemp("png"))
    return Path(store.save(Image.new("RGB", (64, 64), "red"), request).path).read_bytes()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def plain_png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


GOOD = {"prompt": "a cube", "seed": 1, **FAST}
BAD_GENERATE = {
    "nan steps": (b'{"prompt": "x", "steps": NaN}', 422, "steps"),
    "infinite cfg": (b'{"prompt": "x", "cfg_scale": Infinity}', 422, "cfg_scale"),
    "overflowing cfg": (b'{"prompt": "x", "cfg_scale": 1e999}', 422, "cfg_scale"),
    "negative infinity seed": (b'{"prompt": "x", "seed": -Infinity}', 422, "seed"),
    "zero steps": ({**GOOD, "steps": 0}, 422, "steps"),
    "huge steps": ({**GOOD, "steps": 10**30}, 422, "steps"),
    "fractional steps": ({**GOOD, "steps": 2.5}, 422, "steps"),
    "negative seed": ({**GOOD, "seed": -1}, 422, "seed"),
    "seed beyond 2^63": ({**GOOD, "seed": 2**64}, 422, "seed"),
    "width off the grid": ({**GOOD, "width": 33}, 422, "width"),
    "100-megapixel size": ({**GOOD, "width": 10000, "height": 10000}, 422, "width"),
    "too many images": ({**GOOD, "image_count": 1000}, 422, "image_count"),
    "huge prompt": ({**GOOD, "prompt": "x" * 100_000}, 422, "prompt"),
    "unknown sampler": ({**GOOD, "sampler": "Nope"}, 422, "sampler"),
    "traversal in sampler": ({**GOOD, "sampler": "../../etc/passwd"}, 422, "sampler"),
    "unknown model": ({**GOOD, "model": "someone/else"}, 422, "model"),
    "traversal in model": ({**GOOD, "model": "../../../etc/passwd"}, 422, "model"),
    "unknown performance": ({**GOOD, "performance": "Warp"}, 422, "performance"),
    "steps as text": ({**GOOD, "steps": "2"}, 422, "steps"),
    "prompt as number": ({**GOOD, "prompt": 5}, 422, "prompt"),
    "prompt null": ({**GOOD, "prompt": None}, 422, "prompt"),
    "boolean count": ({**GOOD, "image_count": True}, 422, "image_count"),
    "loras not a list": ({**GOOD, "loras": "x"}, 422, "loras"),
    "unknown field": ({**GOOD, "stepz": 3}, 422, "stepz"),
    "array body": (b"[1, 2, 3]", 422, "body"),
    "non-JSON body": (b"prompt=a+cube", 400, "body"),
    "empty body": (b"", 400, "body"),
    "not UTF-8": (b'{"prompt": "\xff\xfe"}', 400, "body"),
    "absurd nesting": (b"[" * 50_000 + b"]" * 50_000, 400, "body"),
    "5000-digit number": (b'{"prompt": "x", "seed": ' + b"9" * 5000 + b"}", 400, "body"),
    "oversized body": ({**GOOD, "negative_prompt": "x" * 400_000}, 413, "body"),
}
BAD_UPLOADS = {
    "0-byte image": ({"image": ""}, 422),
    "not base64": ({"image": "###not base64###"}, 422),
    "non-image bytes": ({"image": b64(b"hello, I am not a picture")}, 422),
    "a JPEG": ({"image": b64(jpeg_bytes())}, 422),
    "PNG without studio metadata": ({"image": b64(plain_png_bytes())}, 422),
    "truncated PNG": ("truncated", 422),
    "corrupt PNG": ("corrupt", 422),
    "decompression bomb": ({"image": b64(png_claiming(50_000, 50_000))}, 413),
    "100-megapixel PNG": ({"image": b64(png_claiming(10_000, 10_000))}, 413),
    "image as a number": ({"image": 12345}, 422),
    "unknown upload field": ({"image": "", "path": "/etc/passwd"}, 422),
}


@pytest.mark.parametrize("name", list(BAD_GENERATE))
def test_bad_generate_requests_get_a_clear_4xx(url, name):
    body, status, field = BAD_GENERATE[name]
    with api(url, 0) as client:
        if isinstance(body, bytes):
            reply = client.post("/v1/generate", content=body, headers={"Content-Type": "application/json"})
        else:
            reply = client.post("/v1/generate", json=body)
        assert reply.status_code == status, reply.text
        error = reply.json()["error"]
        assert error["field"] == field and error["message"]
        assert len(reply.text) < 2000  # the bad value is not echoed back whole
        assert client.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_uploads_get_a_clear_4xx(url, name, studio_png):
    body, status = BAD_UPLOADS[name]
    if body == "truncated":
        body = {"image": b64(studio_png[: len(studio_png) // 2])}
    elif body == "corrupt":
        middle = len(studio_png) // 2
        body = {
            "image": b64(
                studio_png[:middle]
                + bytes(b ^ 0xFF for b in studio_png[middle : middle + 64])
                + studio_png[middle + 64 :]
            )
        }
    with api(url, 0) as client:
        reply = client.post("/v1/metadata", json=body)
        assert reply.status_code == status, reply.text
        assert reply.json()["error"]["message"]
        assert client.get("/health").json()["status"] == "ok"


def test_a_studio_png_upload_gives_its_request_and_bad_queries_are_4xx(url, studio_png):
    with api(url, 0) as client:
        reply = client.post("/v1/metadata", json={"image": b64(studio_png)})
        assert reply.status_code == 200 and reply.json()["request"]["seed"] == 77
        job = client.post("/v1/generate", json=GOOD).json()["id"]
        for wait in ("nan", "1000", "-1", "abc"):
            reply = client.get(f"/v1/jobs/{job}", params={"wait": wait})
            assert reply.status_code == 422 and reply.json()["error"]["field"] == "wait", wait
        assert client.get("/v1/jobs/no-such-job").status_code == 404
        assert client.get(f"/v1/jobs/{job}", params=WAIT).json()["state"] == "done"
        assert client.get("/v1/openapi.json").json()["paths"]["/v1/generate"]["post"]["requestBody"]
