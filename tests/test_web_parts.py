"""The studio page's parts without a browser: its policy on the shared Host/Origin/token guard (with the
browser's token cookie), uploads into the store, labels."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from productshot.errors import BadImageError, BadRequestError
from productshot.http_guard import CLIENT_HEADER, GuardPolicy, HttpGuard
from productshot.prompts import load_template
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.web.app import result_payload
from productshot.web.guard import TOKEN_COOKIE, WebTokenRequiredError, web_policy
from productshot.web.labels import LANGUAGES, page_labels, pick_language
from productshot.web.uploads import (
    UploadTooLargeError,
    UploadTypeError,
    check_declared,
    store_upload,
)

TOKEN = "s3cret-Token_value"


def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"ok {request.url.path}")


def _client(policy: GuardPolicy, base: str = "http://127.0.0.1:8770") -> httpx.AsyncClient:
    inner = Starlette(routes=[Route("/", _echo), Route("/api/x", _echo, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=HttpGuard(inner, policy))
    return httpx.AsyncClient(transport=transport, base_url=base)


async def _get(
    policy: GuardPolicy, path: str, base: str = "http://127.0.0.1:8770", **kw: object
) -> httpx.Response:
    async with _client(policy, base) as client:
        return await client.get(path, **kw)  # type: ignore[arg-type]


def test_local_policy_refuses_foreign_host_and_cross_site_origin() -> None:
    policy = web_policy("127.0.0.1", None)
    ok = asyncio.run(_get(policy, "/"))
    assert ok.status_code == 200 and ok.text == "ok /"
    for host in ("localhost:8770", "[::1]:8770", "127.0.0.1"):
        assert asyncio.run(_get(policy, "/", headers={"host": host})).status_code == 200
    rebound = asyncio.run(_get(policy, "/", headers={"host": "attacker.example:8770"}))
    assert rebound.status_code == 421 and rebound.json()["error"] == "bad_host"
    same_site = asyncio.run(_get(policy, "/api/x", headers={"origin": "http://localhost:8770"}))
    assert same_site.status_code == 200
    cross = asyncio.run(_get(policy, "/api/x", headers={"origin": "https://attacker.example"}))
    assert cross.status_code == 403 and cross.json()["error"] == "bad_origin"
    assert asyncio.run(_get(policy, "/api/x", headers={"origin": "null"})).status_code == 403


def test_non_local_bind_needs_a_token() -> None:
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(WebTokenRequiredError, match="PRODUCTSHOT_WEB_TOKEN"):
            web_policy(host, None)
    policy = web_policy("192.168.1.20", TOKEN, ["studio.lan"])
    assert policy.host_allowed("192.168.1.20:8770") and policy.host_allowed("STUDIO.LAN")
    assert not policy.host_allowed("other.lan")
    anywhere = web_policy("0.0.0.0", TOKEN)
    assert anywhere.host_allowed("whatever.lan:8770")
    assert anywhere.origin_allowed("http://whatever.lan:8770", "whatever.lan:8770")
    assert not anywhere.origin_allowed("http://attacker.example", "whatever.lan:8770")
    with pytest.raises(BadRequestError, match="--allowed-host"):
        web_policy("127.0.0.1", None, ["http://x/y"])


def test_token_by_bearer_any_case_or_by_cookie_after_the_token_link() -> None:
    policy = web_policy("10.0.0.5", TOKEN)
    base = "http://10.0.0.5:8770"
    missing = asyncio.run(_get(policy, "/", base))
    assert missing.status_code == 401 and "token" in missing.json()["message"]
    assert asyncio.run(_get(policy, "/", base, headers={"authorization": "Bearer wrong"})).status_code == 401
    for scheme in ("Bearer", "bearer", "BEARER"):
        got = asyncio.run(_get(policy, "/api/x", base, headers={"authorization": f"{scheme} {TOKEN}"}))
        assert got.status_code == 200

    async def browser_like() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with _client(policy, base) as client:
            login = await client.get(f"/?token={TOKEN}")
            page = await client.get("/")
            api = await client.post("/api/x", headers={CLIENT_HEADER: "web-page"})
            return login, page, api

    login, page, api = asyncio.run(browser_like())
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert page.status_code == 200 and api.status_code == 200
    assert asyncio.run(_get(policy, "/?token=wrong", base)).status_code == 401


def test_upload_checks_then_stores_bytes_unchanged(settings: Settings, tmp_path: Path) -> None:
    limit = 50_000
    small = settings.with_overrides(max_upload_bytes=limit)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    data = buffer.getvalue()
    check_declared("image/png", len(data), limit)
    check_declared("", None, limit)  # no type given: decoding decides
    with pytest.raises(UploadTypeError, match="text/plain"):
        check_declared("text/plain; charset=utf-8", 10, limit)
    with pytest.raises(UploadTooLargeError, match="limit"):
        check_declared("image/jpeg", limit + 1, limit)
    with AssetStore.open(small) as store:
        stored = store_upload(data, small, store, filename="red.png")
        asset = store.get(stored.image)
        assert (stored.width, stored.height, asset.kind) == (64, 48, "input")
        assert Path(asset.path).read_bytes() == data
        with pytest.raises(BadImageError, match="cannot be read as a photo"):
            store_upload(data[: len(data) // 2], small, store)
        with pytest.raises(BadImageError, match="cannot be read as a photo"):
            store_upload(b"just some words, not a photo", small, store)
        with pytest.raises(UploadTooLargeError):
            store_upload(b"\x89PNG" + bytes(limit), small, store)
        assert len(store.list(kind="input")) == 1  # nothing refused reached the store


def test_labels_follow_the_browser_language_and_match_across_languages() -> None:
    assert pick_language("ko-KR,ko;q=0.9,en;q=0.8") == "ko"
    assert pick_language("en-GB,ko;q=0.5") == "en"
    assert pick_language("fr-FR,ko;q=0.3") == "ko"
    assert pick_language("de") == "en" and pick_language(None) == "en"
    english = load_template("web_page_en").parts
    for language in LANGUAGES:
        parts = load_template(f"web_page_{language}").parts
        assert parts.keys() == english.keys()
        for key, text in parts.items():
            assert set(re.findall(r"\$\{(\w+)\}", text)) == set(re.findall(r"\$\{(\w+)\}", english[key])), key
    korean = page_labels("ko", {"max_mb": "40"})
    assert korean["send"] == "사진 만들기" and "40 MB" in korean["drop_types"]
    assert "${thread}" in korean["thread_hint"]  # the page fills the thread in


def test_result_payload_hides_server_paths_and_flags_a_doubtful_cutout() -> None:
    path = "/home/seller/.local/share/productshot/assets/ab/abcdef.png"
    turn = {
        "thread": "t-1",
        "asset_id": "a0000000000000001",
        "path": path,
        "guard": [],
        "reply": f"Done: bottom left.\nThe cutout may be unreliable: thin edges.\nSaved to {path}",
        "notes": [{"code": "cutout_doubtful", "params": {"reason": "thin edges"}, "text": "…"}],
    }
    payload = result_payload(turn)
    assert "path" not in payload and "guard" not in payload
    assert payload["reply"] == "Done: bottom left.\nThe cutout may be unreliable: thin edges."
    assert payload["url"] == "/api/threads/t-1/results/a0000000000000001"
    assert payload["cutout_doubtful"] is True
    assert (
        result_payload({**turn, "notes": [{"code": "scene_default", "params": {}}]})["cutout_doubtful"]
        is False
    )
    # The codes the cutout emits name the reason (tools/cutout_confidence.py).
    for code in ("cutout_doubtful_cluttered", "cutout_doubtful_thin", "cutout_doubtful_dropped"):
        flagged = result_payload({**turn, "notes": [{"code": code, "params": {"confidence": 0.3}}]})
        assert flagged["cutout_doubtful"] is True, code


def test_a_long_poll_answers_when_the_job_moves_not_at_its_timeout() -> None:
    import time

    import anyio

    from productshot.agent.toolbox import ProgressEvent
    from productshot.web.jobs import TurnJobs

    async def scenario() -> tuple[float, dict[str, object], float]:
        job = TurnJobs(capacity=1).create("t-1")
        started = time.monotonic()
        async with anyio.create_task_group() as group:

            async def later() -> None:
                await anyio.sleep(0.05)
                job.listen(ProgressEvent(tool="place_product", message="cutout: cutting the product out"))

            group.start_soon(later)
            await job.wait_after(0, timeout=20)
        woke = time.monotonic() - started
        view = job.view(0)
        job.finish({"asset_id": "a1"})
        quiet = time.monotonic()
        await job.wait_after(1, timeout=20)  # a finished job answers at once
        return woke, view, time.monotonic() - quiet

    woke, view, finished = asyncio.run(scenario())
    assert woke < 5 and finished < 1
    assert view["next"] == 1 and view["events"][0]["step"] == "cutout"  # type: ignore[index]


def test_the_studio_is_busy_past_its_capacity_and_forgets_old_jobs() -> None:
    from productshot.errors import NotFoundError
    from productshot.web.jobs import StudioBusyError, TurnJobs

    jobs = TurnJobs(capacity=2, keep=3)
    first, second = jobs.create("t-1"), jobs.create("t-2")
    with pytest.raises(StudioBusyError, match="try again"):
        jobs.create("t-3")
    first.fail("bad_image", "the file cannot be read as a photo")
    assert first.view()["error"] == {"error": "bad_image", "message": "the file cannot be read as a photo"}
    made = [jobs.create("t-4")]
    second.finish({"asset_id": "a1"})
    for index in range(3):
        made[-1].finish({})
        made.append(jobs.create(f"t-{5 + index}"))
    with pytest.raises(NotFoundError):
        jobs.get(first.id)  # the oldest finished job is forgotten past `keep`
    assert jobs.get(made[-1].id).status == "running"


def test_listing_choices_are_sentences_the_planner_reads_as_their_preset() -> None:
    from productshot.tools.listing_presets import listing_presets
    from productshot.tools.listing_words import find_listing
    from productshot.web.listing import listing_choices

    for language in LANGUAGES:
        choices = listing_choices(language)
        names = [choice["preset"] for choice in choices]
        # Every marketplace preset has a button; "lifestyle" needs a scene request, so it has none.
        assert set(names) == set(listing_presets()) - {"lifestyle"} and names[0] == "amazon"
        for choice in choices:
            asked = find_listing(choice["request"])
            assert asked is not None and (asked.action, asked.preset) == ("listing", choice["preset"])
            assert choice["label"] == listing_presets()[choice["preset"]].label
    assert listing_choices("ko")[0]["request"].startswith("아마존")
    assert listing_choices("fr") == listing_choices("en")
