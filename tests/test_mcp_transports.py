"""`productshot mcp` as a real process: the place_product flow over stdio and streamable HTTP, 16 concurrent
HTTP sessions, and the HTTP safety rules (token off localhost, Host/Origin checks)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.types import BlobResourceContents
from PIL import Image
from pydantic import AnyUrl

from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.studio_scenes import find_scene
from tests.support.mcp_client import image_of, ok, text_of
from tests.support.mcp_proc import HttpServer, http_server, http_session, server_env, stdio_session
from tests.support.worker_proc import idle_worker_url

pytestmark = pytest.mark.slow

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _isolated_settings(root: Path) -> Settings:
    home = root / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    env.update(
        PRODUCTSHOT_HOME=str(home),
        PRODUCTSHOT_ALLOWED_DIRS=str(root),
        PRODUCTSHOT_WORKER_AUTOSTART="0",
        PRODUCTSHOT_WORKER_URL=idle_worker_url(),  # not the default port a developer's worker may use
    )
    return Settings.from_mapping(env, home=home)


@pytest.fixture(scope="module")
def shared_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _isolated_settings(tmp_path_factory.mktemp("mcp-http"))


@pytest.fixture(scope="module")
def server(shared_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    log = tmp_path_factory.mktemp("logs") / "mcp-http.log"
    with http_server(server_env(shared_settings.child_env()), log) as running:
        yield running


async def _place_and_follow_up(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    tools = {tool.name for tool in (await client.list_tools()).tools}
    # 8 studio tools and the 2 listing tools (make_listing_image, check_listing).
    assert len(tools) == 10 and {"place_product", "list_scenes", "make_listing_image"} <= tools
    first = await client.call_tool(
        "place_product",
        {"image": "sample:coffee", "request": "put this cup on a simple beach scene, bottom-left", "seed": 3},
    )
    shot = ok(first)
    assert image_of(first).size == (1024, 768)
    assert [s["name"] for s in shot["steps"]][-1] == "composite"
    moved = ok(
        await client.call_tool(
            "place_product", {"request": "move it to the right", "previous": shot["asset_id"]}
        )
    )
    assert moved["bbox"][0] > shot["bbox"][0] + 20 and moved["bbox"][3] == shot["bbox"][3]
    assert set(moved["reused"]) == {"cutout", "background"}
    blob = (await client.read_resource(AnyUrl(moved["resource_uri"]))).contents[0]
    assert isinstance(blob, BlobResourceContents)
    assert base64.b64decode(blob.blob) == Path(moved["path"]).read_bytes()
    return shot, moved


def test_place_product_flow_over_stdio(tmp_path: Path, settings: Settings) -> None:
    errlog = tmp_path / "stdio.log"

    async def scenario() -> dict[str, Any]:
        async with stdio_session(server_env(settings.child_env()), errlog=errlog) as client:
            return (await _place_and_follow_up(client))[1]

    moved = anyio.run(scenario)
    with AssetStore.open(settings) as store:
        assert store.get(moved["asset_id"]).kind == "result"
    assert "Traceback" not in errlog.read_text()


def test_place_product_flow_over_streamable_http(server: HttpServer, shared_settings: Settings) -> None:
    async def scenario() -> dict[str, Any]:
        async with http_session(server.url) as client:
            return (await _place_and_follow_up(client))[1]

    moved = anyio.run(scenario)
    assert Path(moved["path"]).is_relative_to(shared_settings.home)


# (request sentence, scene it names, expected horizontal side of the bbox centre, expected vertical side)
CONCURRENT = [
    ("put this cup on a simple beach scene, bottom-left", "beach", "left", "bottom"),
    ("on a marble table, bottom-right", "marble", "right", "bottom"),
    ("wooden table, centered", "wooden table", "center", "middle"),
    ("studio backdrop, top-left", "studio", "left", "top"),
    ("in a forest, top-right", "forest", "right", "top"),
    ("on snow, bottom", "snow", "center", "bottom"),
    ("desert scene, left", "desert", "left", "middle"),
    ("on concrete, right", "concrete", "right", "middle"),
    ("해변, 왼쪽 아래", "beach", "left", "bottom"),
    ("대리석 위에 오른쪽 위", "marble", "right", "top"),
    ("garden, top", "garden", "center", "top"),
    ("cafe table, bottom-left", "cafe", "left", "bottom"),
    ("on velvet, bottom-right", "velvet", "right", "bottom"),
    ("kitchen counter, left", "kitchen", "left", "middle"),
    ("on rocks, right", "rocks", "right", "middle"),
    ("by the pool, bottom", "poolside", "center", "bottom"),
]


def _matches(bbox: list[int], size: tuple[int, int], horizontal: str, vertical: str) -> bool:
    width, height = size
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    h = {"left": cx < width * 0.4, "right": cx > width * 0.6, "center": abs(cx - width / 2) < width * 0.1}
    v = {
        "top": cy < height * 0.45,
        "bottom": cy > height * 0.55,
        "middle": abs(cy - height / 2) < height * 0.1,
    }
    return h[horizontal] and v[vertical]


def test_16_concurrent_place_product_calls_from_separate_sessions(
    server: HttpServer, shared_settings: Settings
) -> None:
    size = (512, 384)
    results: dict[int, dict[str, Any]] = {}

    async def one(index: int, request: str) -> None:
        async with http_session(server.url) as client:
            result = await client.call_tool(
                "place_product",
                {
                    "image": "sample:coffee",
                    "request": request,
                    "width": size[0],
                    "height": size[1],
                    "scale": 0.35,
                },
            )
            assert not result.isError, f"{request!r}: {text_of(result)}"
            results[index] = ok(result)

    async def scenario() -> None:
        async with anyio.create_task_group() as tg:
            for index, (request, *_) in enumerate(CONCURRENT):
                tg.start_soon(one, index, request)

    anyio.run(scenario)
    assert sorted(results) == list(range(16))
    for index, (request, scene, horizontal, vertical) in enumerate(CONCURRENT):
        bbox = results[index]["bbox"]
        assert _matches(bbox, size, horizontal, vertical), (
            f"{request!r}: bbox {bbox} is not {horizontal}/{vertical}"
        )
        asked = results[index]["scene_requested"]
        assert scene in asked, f"{request!r}: scene asked {asked!r}"
        assert results[index]["scene"] == find_scene(asked).family  # the family the studio rendered
    assert len({r["asset_id"] for r in results.values()}) == 16
    with AssetStore.open(shared_settings) as store:
        for result in results.values():
            asset = store.get(result["asset_id"])
            with Image.open(asset.path) as image:
                image.load()
                assert image.size == size
    assert "locked" not in server.log_text().lower()


def test_forged_host_or_origin_is_refused(server: HttpServer) -> None:
    port = httpx.URL(server.url).port
    with httpx.Client(timeout=10) as http:
        good = http.post(server.url, json=INIT, headers=MCP_HEADERS)
        assert good.status_code == 200
        rebound = http.post(server.url, json=INIT, headers={**MCP_HEADERS, "Host": f"evil.example:{port}"})
        assert rebound.status_code == 421
        foreign = http.post(server.url, json=INIT, headers={**MCP_HEADERS, "Origin": "http://evil.example"})
        assert foreign.status_code == 403
        # A cross-site form post (no preflight needed) is refused before the MCP app reads it.
        form = http.post(server.url, data={"jsonrpc": "2.0"}, headers={"Accept": MCP_HEADERS["Accept"]})
        assert form.status_code == 403 and form.json()["error"] == "cross_site_refused"
        # A client ending its session (a bodyless DELETE with its session id) still gets through.
        session = good.headers["mcp-session-id"]
        assert http.delete(server.url, headers={"Mcp-Session-Id": session}).status_code == 200
        assert http.delete(server.url).status_code == 403


def test_non_local_bind_needs_a_token(settings: Settings) -> None:
    env = server_env(settings.child_env())
    env.pop("PRODUCTSHOT_MCP_TOKEN", None)
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "productshot",
            "mcp",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "PRODUCTSHOT_MCP_TOKEN" in refused.stderr and "0.0.0.0" in refused.stderr


def test_token_is_required_on_a_non_local_bind(tmp_path: Path, settings: Settings) -> None:
    token = "s3cret-" + "x" * 32
    env = {**server_env(settings.child_env()), "PRODUCTSHOT_MCP_TOKEN": token}
    with http_server(env, tmp_path / "token.log", host="0.0.0.0") as running:
        url = running.url.replace("0.0.0.0", "127.0.0.1")
        with httpx.Client(timeout=10) as http:
            assert http.post(url, json=INIT, headers=MCP_HEADERS).status_code == 401
            wrong = http.post(url, json=INIT, headers={**MCP_HEADERS, "Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
            rebound = http.post(
                url,
                json=INIT,
                headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", "Host": "evil.example"},
            )
            assert rebound.status_code == 421
            lower = http.post(url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"bearer {token}"})
            assert lower.status_code == 200

        async def scenario() -> int:
            async with http_session(url, headers={"Authorization": f"Bearer {token}"}) as client:
                return len((await client.list_tools()).tools)

        assert anyio.run(scenario) == 10  # 8 studio tools and the 2 listing tools
