"""The studio page in a real browser: headless Chromium (Debian's package) driven by Playwright.

One studio per module (a real uvicorn server, the real agent runtime on the rules planner, one real stdio
MCP server, the real SQLite thread store), one browser; each test opens its own tabs. The page is used as
a seller uses it: pick a photo, type, press Enter, read what appears.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from productshot.agent.runtime import AgentRuntime
from productshot.http_guard import CLIENT_HEADER
from productshot.web.serve import WebServer
from tests.support.agent_harness import (
    agent_settings,
    centre,
    placement_problems,
    small_context,
    write_cutout,
)
from tests.support.browser import chromium_missing, launch
from tests.support.signals import default_sigint
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

CANVAS = (512, 384)
UPLOAD_LIMIT = 300_000  # bytes: small, so the oversized test file stays small too
SHOT_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    home = tmp_path_factory.mktemp("web-home")
    settings = agent_settings(home).with_overrides(max_upload_bytes=UPLOAD_LIMIT)
    server = WebServer(settings, port=0, runtime=lambda: AgentRuntime(settings, context=small_context()))
    with server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A rebound name for this machine, as DNS rebinding would give a hostile page.
        chromium = launch(playwright, ["--host-resolver-rules=MAP rebound.test 127.0.0.1"])
        yield chromium
        chromium.close()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path


def _open(browser: Any, url: str, locale: str = "en-US") -> tuple[Any, Any]:
    context = browser.new_context(locale=locale, accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    return context, page


def _upload(page: Any, path: Path) -> None:
    page.set_input_files("input[type=file]", str(path))


def _ask(page: Any, text: str, previous_asset: str | None = None) -> dict[str, Any]:
    """Type `text`, press Enter, wait for a new result image; its asset id, bbox and natural size."""
    box = page.locator("textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(
        "(prev) => { const img = document.getElementById('result');"
        " return img && !img.hidden && img.complete && img.naturalWidth > 0 && img.dataset.asset"
        " && img.dataset.asset !== prev && document.getElementById('send').disabled === false; }",
        arg=previous_asset or "",
        timeout=SHOT_TIMEOUT_MS,
    )
    return page.evaluate(
        "() => { const img = document.getElementById('result');"
        " return { asset: img.dataset.asset, bbox: img.dataset.bbox.split(',').map(Number),"
        " width: img.naturalWidth, height: img.naturalHeight, src: img.getAttribute('src'),"
        " thread: document.getElementById('thread').textContent }; }"
    )


def _wait_upload(page: Any) -> None:
    page.wait_for_function("() => !!document.getElementById('preview').dataset.asset")


def _log(page: Any) -> list[str]:
    return page.locator("#log li.from-studio p").all_inner_texts()


def _redness_inside_and_outside(png: bytes, bbox: list[int]) -> tuple[float, float]:
    """Mean red-minus-green inside the bbox and outside it (the test product is red)."""
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB")).astype(float)
    redness = pixels[..., 0] - pixels[..., 1]
    inside = np.zeros(redness.shape, dtype=bool)
    inside[bbox[1] : bbox[3], bbox[0] : bbox[2]] = True
    return float(redness[inside].mean()), float(redness[~inside].mean())


def test_photo_request_result_followup_undo_download(
    studio: WebServer, browser: Any, files: Path, cli_env: dict[str, str]
) -> None:
    context, page = _open(browser, studio.url)
    try:
        assert page.locator("#send").inner_text() == "Make the shot"
        _upload(page, write_cutout(files / "bag.png"))
        _wait_upload(page)
        first = _ask(page, "put this bag on white marble, bottom-left")
        assert (first["width"], first["height"]) == CANVAS
        assert placement_problems(tuple(first["bbox"]), "bottom-left", CANVAS) == []
        png = page.request.get(studio.url.rstrip("/") + first["src"]).body()
        inside, outside = _redness_inside_and_outside(png, first["bbox"])
        assert inside > outside + 40  # the red product is where the page says it is
        # The steps the server announced while the shot ran, in order, as the progress list showed them.
        shown = page.eval_on_selector_all("#steps li", "items => items.map((li) => li.dataset.step)")
        assert shown[0] == "plan" and shown[-1] == "composite" and "generate" in shown, shown
        steps = page.locator("#done-steps").inner_text()
        assert "Cutting the product out" in steps and "Placing the product" in steps
        assert "/assets/" not in page.locator("#log").inner_text()  # no server path in the chat

        moved = _ask(page, "move it a little to the right", first["asset"])
        assert moved["thread"] == first["thread"]
        assert centre(tuple(moved["bbox"]))[0] > centre(tuple(first["bbox"]))[0] + 10
        assert page.locator("#history img").count() == 2

        thread = httpx.get(f"{studio.url}api/threads/{first['thread']}").json()
        assert [r["asset_id"] for r in thread["results"]] == [first["asset"], moved["asset"]]

        with page.expect_download() as download:
            page.click("#download-jpeg")
        jpeg = Path(download.value.path()).read_bytes()
        with Image.open(io.BytesIO(jpeg)) as shot:
            assert shot.format == "JPEG" and shot.size == CANVAS

        page.click("#undo")
        page.wait_for_function(
            "(asset) => document.getElementById('result').dataset.asset === asset"
            " && !document.getElementById('send').disabled",
            arg=first["asset"],
            timeout=SHOT_TIMEOUT_MS,
        )
    finally:
        context.close()
    # The page's thread goes on in a terminal, from the result the undo went back to.
    proc = subprocess.run(
        [sys.executable, "-m", "productshot", "run", "bigger", "--thread", first["thread"], "--json"],
        env={**cli_env, "PRODUCTSHOT_HOME": str(studio.settings.home)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    bigger = json.loads(proc.stdout)
    assert bigger["thread"] == first["thread"]
    assert bigger["bbox"][2] - bigger["bbox"][0] > first["bbox"][2] - first["bbox"][0]


def test_korean_browser_gets_korean_page_and_reply(studio: WebServer, browser: Any, files: Path) -> None:
    context, page = _open(browser, studio.url, locale="ko-KR")
    try:
        assert page.locator("html").get_attribute("lang") == "ko"
        assert page.locator("#send").inner_text() == "사진 만들기"
        _upload(page, write_cutout(files / "가방.png", size=(200, 260)))
        _wait_upload(page)
        shot = _ask(page, "이 가방을 흰 대리석 위 오른쪽 아래에 놓아줘")
        assert placement_problems(tuple(shot["bbox"]), "bottom-right", CANVAS) == []
        assert _log(page)[-1].startswith("완성했어요")
        assert "상품 배치하기" in page.locator("#done-steps").inner_text()
        # The listing button speaks Korean to the agent too, and the verdict comes back in Korean.
        assert page.locator("#make-listing").inner_text() == "등록용 이미지 만들기"
        page.select_option("#preset", "coupang")
        page.click("#make-listing")
        page.wait_for_function(
            "() => document.getElementById('listing-verdict').dataset.preset === 'coupang'"
            " && !document.getElementById('send').disabled",
            timeout=SHOT_TIMEOUT_MS,
        )
        assert page.locator("#log li.from-you p").last.inner_text() == "쿠팡 대표이미지 만들어줘"
        assert page.locator("#listing-verdict").inner_text() == "측정할 수 있는 규칙을 모두 통과했어요."
        assert page.locator("#result").get_attribute("data-asset") == shot["asset"]  # the shot stays
        # A reload keeps the tab's conversation; "new conversation" starts another, empty one.
        page.reload()
        page.wait_for_function(
            "(asset) => document.getElementById('result').dataset.asset === asset", arg=shot["asset"]
        )
        assert page.locator("#thread").inner_text() == shot["thread"]
        assert page.locator("#history img").count() == 1
        page.click("#new-thread")
        page.wait_for_function(
            "(old) => { const t = document.getElementById('thread').textContent;"
            " return t.startsWith('t-') && t !== old; }",
            arg=shot["thread"],
        )
        assert page.locator("#history img").count() == 0 and page.locator("#result").is_hidden()
    finally:
        context.close()


def test_two_tabs_at_once_keep_their_own_threads(studio: WebServer, browser: Any, files: Path) -> None:
    context = browser.new_context(locale="en-US")
    try:
        left, right = context.new_page(), context.new_page()
        for page in (left, right):
            page.goto(studio.url)
        _upload(left, write_cutout(files / "left.png", size=(180, 240)))
        _upload(right, write_cutout(files / "right.png", size=(260, 200)))
        _wait_upload(left)
        _wait_upload(right)
        # Both requests go out before either result comes back.
        for page, text in ((left, "on white marble, top-left"), (right, "on white marble, bottom-right")):
            page.locator("textarea").fill(text)
            page.locator("textarea").press("Enter")
        got = {}
        for page, where in ((left, "top-left"), (right, "bottom-right")):
            page.wait_for_function(
                "() => { const img = document.getElementById('result');"
                " return !img.hidden && img.complete && img.naturalWidth > 0; }",
                timeout=SHOT_TIMEOUT_MS,
            )
            bbox = [int(v) for v in page.locator("#result").get_attribute("data-bbox").split(",")]
            assert placement_problems((bbox[0], bbox[1], bbox[2], bbox[3]), where, CANVAS) == []
            got[where] = (
                page.locator("#thread").inner_text(),
                page.locator("#result").get_attribute("data-asset"),
            )
            assert page.locator("#history img").count() == 1
        (left_thread, left_asset), (right_thread, right_asset) = got["top-left"], got["bottom-right"]
        assert left_thread != right_thread and left_asset != right_asset
        # One tab's thread does not serve the other's result.
        foreign = httpx.get(f"{studio.url}api/threads/{right_thread}/results/{left_asset}")
        assert foreign.status_code == 404 and foreign.json()["error"] == "not_found"
    finally:
        context.close()


def test_amazon_listing_image_from_the_page_passes_its_rules(
    studio: WebServer, browser: Any, files: Path
) -> None:
    context, page = _open(browser, studio.url)
    try:
        assert page.locator("#make-listing").inner_text() == "Make listing image"
        options = page.eval_on_selector_all("#preset option", "os => os.map((o) => o.value)")
        assert options[0] == "amazon" and {"coupang", "naver"} <= set(options)
        _upload(page, write_cutout(files / "bottle.png", size=(200, 300)))
        _wait_upload(page)
        page.select_option("#preset", "amazon")
        page.click("#make-listing")
        page.wait_for_function(
            "() => { const img = document.getElementById('listing-image');"
            " return !document.getElementById('listing').hidden && img.complete && img.naturalWidth > 0"
            " && !document.getElementById('send').disabled; }",
            timeout=SHOT_TIMEOUT_MS,
        )
        verdict = page.locator("#listing-verdict")
        assert verdict.get_attribute("data-ok") == "true" and verdict.get_attribute("data-preset") == "amazon"
        assert verdict.inner_text() == "Passes every rule that can be measured."
        rules = page.eval_on_selector_all(
            "#listing-rules li",
            "items => items.map((li) => [li.dataset.rule, li.dataset.ok, li.dataset.level])",
        )
        by_name = {name: ok for name, ok, _ in rules}
        assert by_name["white_background"] == "true" and by_name["fill"] == "true"
        assert by_name["no_text"] == "null"  # what no pixel test measures is shown as "check by eye"
        assert all(ok != "false" for _, ok, level in rules if level == "required"), rules
        assert "Pure white background" in page.locator("#listing-rules").inner_text()
        # It went through the agent: the chat shows the request the button sent and the studio's reply.
        assert page.locator("#log li.from-you p").last.inner_text() == "make a listing image for amazon"
        assert "amazon" in _log(page)[-1].lower()
        # The shot area is untouched (a listing image is not a shot), and the listing downloads as JPEG.
        assert page.locator("#result").is_hidden() and page.locator("#history img").count() == 0
        with page.expect_download() as download:
            page.click("#download-listing")
        with Image.open(io.BytesIO(Path(download.value.path()).read_bytes())) as made:
            assert made.format == "JPEG" and made.size == (2000, 2000)
            corner = made.convert("RGB").getpixel((5, 5))
            assert min(corner) >= 254  # Amazon's pure white
    finally:
        context.close()


def test_oversized_upload_and_text_file_refused_with_a_message(
    studio: WebServer, browser: Any, files: Path
) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    big = files / "huge.png"
    Image.fromarray(noise).save(big)
    assert big.stat().st_size > UPLOAD_LIMIT
    text = files / "notes.txt"
    text.write_text("not a photo")
    context, page = _open(browser, studio.url)
    try:
        for path, code, headline in (
            (big, "too_large", "This file is too large."),
            (text, "wrong_type", "That is not a photo we can read."),
        ):
            _upload(page, path)
            page.wait_for_function(
                "(code) => document.getElementById('error').dataset.code === code", arg=code
            )
            message = page.locator("#error").inner_text()
            assert message.startswith(headline) and "Traceback" not in message
            assert page.locator("#preview").get_attribute("data-asset") is None
        # Without a declared length (chunked), the server stops reading at the limit.
        chunks = iter([big.read_bytes()[:100_000]] * 4)
        streamed = httpx.post(
            f"{studio.url}api/uploads",
            content=chunks,
            headers={"content-type": "image/png", CLIENT_HEADER: "test"},
        )
        assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"
        # Sending without a photo is refused in the page, before any turn starts.
        page.locator("textarea").fill("on white marble")
        page.locator("textarea").press("Enter")
        assert "Add a product photo first" in page.locator("#error").inner_text()
        # A request the pipeline refuses comes back as a message, not a trace.
        _upload(page, write_cutout(files / "ok.png", size=(120, 160)))
        _wait_upload(page)
        page.locator("textarea").fill("put it at x=2.5,y=0.5 on white marble")
        page.locator("textarea").press("Enter")
        page.wait_for_function(
            "() => document.getElementById('error').dataset.code === 'bad_position'", timeout=SHOT_TIMEOUT_MS
        )
        message = page.locator("#error").inner_text()
        assert message.startswith("That position is not on the picture.") and "off the canvas" in message
        assert "Traceback" not in page.content()
    finally:
        context.close()


def test_foreign_host_and_cross_site_origin_refused(studio: WebServer, browser: Any) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"http://rebound.test:{studio.port}/")
        assert response is not None and response.status == 421
        assert "bad_host" in page.content()
    finally:
        context.close()
    forged = httpx.post(f"{studio.url}api/threads", headers={"origin": "http://evil.example"})
    assert forged.status_code == 403 and forged.json()["error"] == "bad_origin"
    # A form another site posts (no Origin, as some browsers send it, no client header) is refused too.
    photo = {"photo": ("bag.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    form = httpx.post(f"{studio.url}api/uploads", files=photo)
    assert form.status_code == 403 and form.json()["error"] == "cross_site_refused"


def test_non_local_bind_without_token_refused(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "PRODUCTSHOT_WEB_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "productshot", "web", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "PRODUCTSHOT_WEB_TOKEN" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_serves_the_page_behind_its_token_and_stops_on_ctrl_c(
    browser: Any, cli_env: dict[str, str]
) -> None:
    token = "tok-" + "x" * 28
    proc = subprocess.Popen(
        [sys.executable, "-m", "productshot", "web", "--port", "0"],
        env={**cli_env, "PRODUCTSHOT_WEB_TOKEN": token},
        preexec_fn=default_sigint,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"open (http://127\.0\.0\.1:\d+/)\?token=", line)
        assert found, line
        url = found.group(1)

        def healthy() -> bool:
            try:
                got = httpx.get(f"{url}healthz", headers={"authorization": f"bearer {token}"})
            except httpx.TransportError:
                return False
            return got.status_code == 200

        wait_until(healthy, what="productshot web answering", timeout=120, every=0.2)
        context = browser.new_context()
        try:
            page = context.new_page()
            refused = page.goto(url)
            assert refused is not None and refused.status == 401
            landed = page.goto(f"{url}?token={token}")
            assert landed is not None and landed.status == 200 and page.url == url
            page.wait_for_function("() => document.getElementById('thread').textContent.startsWith('t-')")
            assert page.locator("input[type=file]").count() == 1 and page.locator("textarea").count() == 1
        finally:
            context.close()
        proc.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down, then the CLI's interrupted code
        _, rest = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "Traceback" not in rest, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
