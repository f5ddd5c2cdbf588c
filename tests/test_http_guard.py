"""The shared HTTP guard on real sockets: the worker refuses foreign Hosts and Origins and cross-site form
posts, accepts its own client, and reads the Bearer scheme in any case; the MCP server uses the same guard."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from productshot.errors import BadRequestError
from productshot.http_guard import (
    CLIENT_HEADER,
    GuardPolicy,
    HttpGuard,
    bearer_ok,
    bind_policy,
    host_patterns,
)
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
    # IPv6 literals are matched as text (fnmatch would read "[::1]" as a character class).
    assert policy.host_allowed("[::1]:8765") and policy.host_allowed("[::1]")
    assert not policy.host_allowed(":1]:8765") and not policy.host_allowed("1")
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


COOKIE = "studio_token"
PAGE_TOKEN = "page-" + "k" * 27


async def _record(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"{request.method} {request.url.path} {len(body)}")


def _cookie_door(policy: GuardPolicy) -> HttpGuard:
    inner = Starlette(routes=[Route("/", _record), Route("/api/x", _record, methods=["GET", "POST"])])
    return HttpGuard(inner, policy)


def test_a_browser_door_takes_the_token_from_its_login_cookie_on_a_real_socket() -> None:
    policy = bind_policy("127.0.0.1", PAGE_TOKEN, token_hint="PRODUCTSHOT_WEB_TOKEN", token_cookie=COOKIE)
    with serving(_cookie_door(policy)) as url, httpx.Client(base_url=url, timeout=10) as browser:
        first = browser.get("/")
        assert first.status_code == 401 and "?token=" in first.json()["message"]
        login = browser.get(f"/api/x?token={PAGE_TOKEN}&lang=ko")
        assert login.status_code == 303 and login.headers["location"] == "/api/x"
        cookie = login.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={PAGE_TOKEN};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert browser.cookies.get(COOKIE) == PAGE_TOKEN  # the client keeps it, as a browser does
        assert browser.get("/").text == "GET / 0"
        # The page's own fetch: the cookie plus the client header, a multipart upload included.
        upload = browser.post(
            "/api/x", files={"photo": ("bag.png", _png(), "image/png")}, headers={CLIENT_HEADER: "web-page"}
        )
        assert upload.status_code == 200 and upload.text.startswith("POST /api/x ")
        assert browser.post("/api/x", json={"a": 1}).status_code == 200
        # A form post a hostile page makes the browser send: the cookie rides along only if the browser
        # ignores SameSite; then the missing header refuses it, and a foreign Origin refuses it first.
        form = browser.post("/api/x", data={"a": "1"}, files={"photo": ("x.png", b"x", "image/png")})
        assert form.status_code == 403 and form.json()["error"] == "cross_site_refused"
        foreign = browser.post(
            "/api/x", json={"a": 1}, headers={"Origin": "http://evil.example", CLIENT_HEADER: "x"}
        )
        assert foreign.status_code == 403 and foreign.json()["error"] == "bad_origin"
        # The cookie never outranks the Host allow-list; a wrong header is not rescued by a good cookie.
        rebound = browser.get("/", headers={"Host": "rebound.example"})
        assert rebound.status_code == 421 and rebound.json()["error"] == "bad_host"
        assert browser.get("/", headers={"Authorization": "Bearer nope"}).status_code == 401
    with serving(_cookie_door(policy)) as url, httpx.Client(base_url=url, timeout=10) as stranger:
        wrong = stranger.get("/?token=not-the-token")
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        stranger.cookies.set(COOKIE, "not-the-token")
        assert stranger.get("/").status_code == 401
        stranger.cookies.clear()
        # No login on a foreign Host (a rebound name cannot plant the cookie), nor by POST.
        planted = stranger.get(f"/?token={PAGE_TOKEN}", headers={"Host": "rebound.example"})
        assert planted.status_code == 401 and "set-cookie" not in planted.headers  # token first, then Host
        posted = stranger.post(f"/api/x?token={PAGE_TOKEN}", json={})
        assert posted.status_code == 401 and "set-cookie" not in posted.headers
        stranger.cookies.set(COOKIE, PAGE_TOKEN)
        garbled = stranger.get("/", headers={"Cookie": 'a="unclosed; ' + f"{COOKIE}={PAGE_TOKEN}"})
        assert garbled.status_code in (200, 401)  # parsed or not, never a crash


def test_a_door_without_a_token_cookie_ignores_cookies_and_the_login_link() -> None:
    policy = bind_policy("127.0.0.1", PAGE_TOKEN)  # the worker's and MCP server's kind: header only
    with serving(_cookie_door(policy)) as url, httpx.Client(base_url=url, timeout=10) as http:
        login = http.get(f"/?token={PAGE_TOKEN}")
        assert login.status_code == 401 and "set-cookie" not in login.headers
        http.cookies.set(COOKIE, PAGE_TOKEN)
        assert http.get("/").status_code == 401
        assert http.get("/", headers={"Authorization": f"bearer {PAGE_TOKEN}"}).status_code == 200
    with pytest.raises(BadRequestError, match="cookie"):
        GuardPolicy(allowed_hosts=("localhost",), token="t", token_cookie="bad name;")
    for token in ("two words", "semi;colon", 'quo"te', "한글"):  # a browser could not keep it in a cookie
        with pytest.raises(BadRequestError, match="PRODUCTSHOT_WEB_TOKEN must be printable ASCII"):
            bind_policy("127.0.0.1", token, token_hint="PRODUCTSHOT_WEB_TOKEN", token_cookie=COOKIE)
    assert bind_policy("127.0.0.1", "two words").token == "two words"  # header-only doors take any token


def test_bind_policy_same_host_origin_on_a_wildcard_bind() -> None:
    anywhere = bind_policy("0.0.0.0", "t", token_cookie=COOKIE)
    assert anywhere.allowed_hosts is None and anywhere.host_allowed("box.lan:8770")
    assert anywhere.origin_allowed("http://box.lan:8770", "box.lan:8770")
    assert not anywhere.origin_allowed("http://box.lan:9999", "box.lan:8770")
    assert not anywhere.origin_allowed("http://evil.example", "box.lan:8770")
    named = bind_policy("0.0.0.0", "t", extra_hosts=["studio.lan"])
    assert named.host_allowed("studio.lan:8770") and not named.host_allowed("other.lan")
    local = bind_policy("127.0.0.1", None)
    assert local.token is None and not local.host_allowed("evil.example")
    untokened = bind_policy("0.0.0.0", None)  # no token: never any Host, only the local names
    assert untokened.allowed_hosts is not None and not untokened.host_allowed("box.lan:8770")
