"""The shared HTTP guard on real sockets: the worker refuses foreign Hosts and Origins and cross-site form
posts, accepts its own client, and reads the Bearer scheme in any case; the MCP server uses the same guard."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from productshot.errors import BadRequestError
from productshot.http_guard import CLIENT_HEADER, GuardPolicy, bearer_ok, host_patterns
from productshot.server.worker.app import create_app
from productshot.server.worker.client import WorkerClient
from productshot.server.worker.config import WorkerConfig
from productshot.settings import Settings
from tests.support.asgi_server import serving


@pytest.fixture
def worker_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings, config=WorkerConfig())) as url:
        yield url


def _png() -> bytes:
    image = Image.new("RGB", (96, 96), (235, 235, 230))
    image.paste((150, 60, 40), (24, 16, 72, 84))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_worker_refuses_foreign_host_and_origin_on_every_route(worker_url: str) -> None:
    port = httpx.URL(worker_url).port
    with httpx.Client(base_url=worker_url, timeout=10) as http:
        assert http.get("/health").status_code == 200
        for path in ("/health", "/metrics", "/models", "/jobs/j0000000000000000"):
            rebound = http.get(path, headers={"Host": f"evil.example:{port}"})
            assert rebound.status_code == 421, path
            assert rebound.json()["error"] == "bad_host" and "home" not in rebound.text
            foreign = http.get(path, headers={"Origin": "http://evil.example"})
            assert foreign.status_code == 403 and foreign.json()["error"] == "bad_origin", path
        local_page = http.get("/health", headers={"Origin": f"http://localhost:{port}"})
        assert local_page.status_code == 200
        job = {"type": "generate", "model": "studio", "prompt": "beach", "width": 64, "height": 64}
        posted = http.post("/jobs", json=job, headers={"Host": "evil.example"})
        assert posted.status_code == 421


def test_worker_refuses_a_cross_site_form_post_and_accepts_its_own_client(worker_url: str) -> None:
    form = {"model": "u2netp"}
    files = {"image": ("bag.png", _png(), "image/png")}
    with httpx.Client(base_url=worker_url, timeout=10) as http:
        # What a web page can send without a preflight: a multipart form, no custom header, no Origin
        # (some browsers omit it) or a local-looking one.
        for headers in ({}, {"Origin": f"{worker_url}"}):
            refused = http.post("/jobs/cutout", data=form, files=files, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "cross_site_refused"
            assert CLIENT_HEADER in refused.json()["message"]
        plain_text = http.post(
            "/jobs", content=b'{"type": "generate"}', headers={"content-type": "text/plain"}
        )
        assert plain_text.status_code == 403
        cancel = http.post("/jobs/j0000000000000000/cancel")
        assert cancel.status_code == 403
        assert http.request("DELETE", "/jobs/j0000000000000000").status_code == 403
        # Nothing was queued by the refused posts.
        assert http.get("/health").json()["queue_depth"] == 0
    with WorkerClient(worker_url, timeout=30) as client:
        handle = client.submit_cutout(_png(), model="u2netp")
        assert handle.job_id
        info = client.wait(handle.job_id, deadline=60)
        assert info.status.value == "done"


def test_bearer_scheme_is_case_insensitive_on_a_real_worker(settings: Settings) -> None:
    token = "tok-" + "z" * 24
    app = create_app(settings, config=WorkerConfig(host="127.0.0.1", token=token))
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/health").status_code == 401
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
            answer = http.get("/health", headers={"Authorization": f"{scheme} {token}"})
            assert answer.status_code == 200, scheme
        assert http.get("/health", headers={"Authorization": f"Basic {token}"}).status_code == 401
        assert http.get("/health", headers={"Authorization": f"Bearer {token}x"}).status_code == 401


def test_policy_units() -> None:
    assert bearer_ok("bearer abc", "abc") and bearer_ok("Bearer  abc ", "abc")
    assert not bearer_ok("Bearerabc", "abc") and not bearer_ok("", "abc")
    patterns = host_patterns("10.0.0.7", ["studio.lan"])
    policy = GuardPolicy(allowed_hosts=patterns, token="t")
    assert policy.host_allowed("10.0.0.7:8765") and policy.host_allowed("studio.lan")
    assert not policy.host_allowed("evil.example") and not policy.host_allowed("")
    assert policy.origin_allowed("https://studio.lan:8766", "studio.lan") is True
    assert policy.origin_allowed("null", "studio.lan") is False
    anywhere = GuardPolicy(allowed_hosts=None, token="t")
    assert anywhere.origin_allowed("http://box:1", "box:1") and not anywhere.origin_allowed(
        "http://evil", "box:1"
    )
    with pytest.raises(BadRequestError):
        GuardPolicy(allowed_hosts=None, token=None)


def test_a_network_worker_refuses_model_folders_outside_the_allowed_ones_in_one_message(
    settings: Settings, tmp_path: Path
) -> None:
    token = "tok-" + "m" * 24
    headers = {"Authorization": f"Bearer {token}"}
    job = {"type": "generate", "prompt": "beach", "width": 64, "height": 64}
    file_outside = tmp_path.parent / "outside-model.bin"
    file_outside.write_bytes(b"x")
    app = create_app(settings, config=WorkerConfig(host="0.0.0.0", token=token))
    answers = set()
    with serving(app) as url, httpx.Client(base_url=url, timeout=10, headers=headers) as http:
        for folder in ("/etc", "/no/such/folder", str(file_outside), "../../../etc", str(tmp_path.parent)):
            answer = http.post("/jobs", json={**job, "model": folder})
            assert answer.status_code == 403, answer.text
            message = answer.json()["message"]
            assert "diffusers" not in message and "does not exist" not in message
            answers.add(message.replace(repr(folder), "<given>"))
        assert http.post("/jobs", json={**job, "model": "studio"}).status_code == 202
    assert len(answers) == 1, answers
    # A worker on this machine only (the CLI's) still says what is wrong with a folder the user named.
    with serving(create_app(settings, config=WorkerConfig())) as url, httpx.Client(base_url=url) as http:
        local = http.post("/jobs", json={**job, "model": "/no/such/folder"})
        assert local.status_code == 404 and "does not exist" in local.json()["message"]
