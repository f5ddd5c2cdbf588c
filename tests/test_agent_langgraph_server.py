"""LangGraph's own server serves the same graph: `langgraph dev` (in-memory) on langgraph.json's factory.

The repository's langgraph.json is copied into a temp folder with its graph paths made absolute, so the
server's state folder (`.langgraph_api/`) lands there and not in the checkout. One request and one
follow-up go through the server's HTTP API; the server brings its own persistence for the thread.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.agent_harness import centre, placement_problems, write_cutout
from tests.support.worker_proc import REPO_ROOT, free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 90.0
CONTEXT = {"width": 512, "height": 384, "model": "studio"}


def _langgraph() -> str:
    found = Path(sys.executable).with_name("langgraph")
    if not found.exists():
        pytest.fail("langgraph-cli[inmem] is not installed in this environment (a dev dependency)")
    return str(found)


def _config(folder: Path) -> Path:
    """langgraph.json with each graph's file path made absolute (the server runs in `folder`)."""
    config = json.loads((REPO_ROOT / "langgraph.json").read_text(encoding="utf-8"))
    for name, target in config["graphs"].items():
        path, _, attribute = target.partition(":")
        config["graphs"][name] = f"{(REPO_ROOT / path).resolve()}:{attribute}"
    config["dependencies"] = [str(REPO_ROOT)]
    written = folder / "langgraph.json"
    written.write_text(json.dumps(config), encoding="utf-8")
    return written


@pytest.fixture
def server(cli_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "langgraph"
    folder.mkdir()
    config = _config(folder)
    port = free_port()
    env = {
        **cli_env,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGSMITH_TRACING": "false",
    }
    log = tmp_path / "langgraph-dev.log"
    command = [
        _langgraph(),
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        str(config),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"langgraph dev exited with {process.returncode}:\n{log.read_text(errors='replace')}"
                )
            try:
                if httpx.get(f"{url}/ok", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(
                    f"langgraph dev did not answer within {START_TIMEOUT_S}s:\n{log.read_text(errors='replace')}"
                )
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        shutil.rmtree(folder / ".langgraph_api", ignore_errors=True)


def _run(client: httpx.Client, thread: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        f"/threads/{thread}/runs/wait", json={"assistant_id": "agent", "input": payload, "context": CONTEXT}
    )
    assert response.status_code == 200, response.text
    values = response.json()
    assert "__error__" not in values, values
    return values


def test_langgraph_dev_serves_the_graph_through_its_http_api(server: str, tmp_path: Path) -> None:
    product = write_cutout(tmp_path / "bag.png")
    with httpx.Client(base_url=server, timeout=120) as client:
        assistants = client.post("/assistants/search", json={"graph_id": "agent"}).json()
        assert [a["graph_id"] for a in assistants] == ["agent"]
        thread = client.post("/threads", json={}).json()["thread_id"]
        first = _run(
            client,
            thread,
            {"request": "이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘", "image": str(product)},
        )
        outcome = first["outcome"]
        assert placement_problems(tuple(outcome["bbox"]), "bottom-left", (512, 384)) == []
        assert Path(outcome["path"]).is_file() and first["language"] == "ko" and "저장 위치" in first["reply"]
        moved = _run(client, thread, {"request": "move it a little to the right"})
        assert centre(moved["outcome"]["bbox"])[0] > centre(outcome["bbox"])[0]
        assert moved["outcome"]["reused"] == ["cutout", "background"]
        assert moved["results"] == [outcome["asset_id"], moved["outcome"]["asset_id"]]
