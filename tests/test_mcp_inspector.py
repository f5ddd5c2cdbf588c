"""The official MCP Inspector CLI (npm, installed by scripts/setup.sh) against `productshot mcp` over stdio.

The server is started from the very entry `productshot mcp config` prints, so this also proves the entry a
seller pastes into Claude Desktop works. No silent skip: without Node or node_modules this test fails.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from productshot.settings import Settings
from tests.conftest import REPO_ROOT
from tests.support.mcp_proc import inspector_command, server_env

pytestmark = pytest.mark.slow

INSPECTOR = REPO_ROOT / "node_modules" / "@modelcontextprotocol" / "inspector"
SETUP_HINT = "run scripts/setup.sh (it runs `npm ci` for the MCP Inspector; Node 20+ must be installed)"


def _config_file(tmp_path: Path, env: dict[str, str]) -> Path:
    printed = subprocess.run(
        [sys.executable, "-m", "productshot", "mcp", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entry = json.loads(printed.stdout)
    server = entry["mcpServers"]["productshot"]
    assert Path(server["command"]).is_absolute() and server["args"][-1] == "mcp"
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(printed.stdout, encoding="utf-8")
    return path


def _inspect(config: Path, env: dict[str, str], *method: str) -> dict[str, Any]:
    done = subprocess.run(
        [*inspector_command(), "--config", str(config), "--server", "productshot", *method],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"inspector exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_inspector_lists_the_tools_and_calls_place_product(tmp_path: Path, settings: Settings) -> None:
    assert shutil.which(inspector_command()[0]), f"npx not found: {SETUP_HINT}"
    assert INSPECTOR.is_dir(), f"{INSPECTOR} is missing: {SETUP_HINT}"
    env = server_env(settings.child_env())
    config = _config_file(tmp_path, env)

    listed = _inspect(config, env, "--method", "tools/list")
    tools = {tool["name"]: tool for tool in listed["tools"]}
    assert set(tools) == {
        "write_prompt",
        "generate_background",
        "remove_background",
        "composite",
        "check_split",
        "place_product",
        "list_models",
        "list_scenes",
        "make_listing_image",
        "check_listing",
    }
    for tool in tools.values():
        assert tool["inputSchema"]["type"] == "object" and tool["outputSchema"]["type"] == "object"
    assert {"image", "request", "previous"} <= set(tools["place_product"]["inputSchema"]["properties"])

    called = _inspect(
        config,
        env,
        "--method",
        "tools/call",
        "--tool-name",
        "place_product",
        "--tool-arg",
        "image=sample:coffee",
        "request=put this cup on a simple beach scene, bottom-left",
    )
    # The Inspector exits 0 even for a tool error: read the result itself.
    assert not called.get("isError"), json.dumps(called)[:2000]
    images = [block for block in called["content"] if block["type"] == "image"]
    assert len(images) == 1 and images[0]["mimeType"] == "image/jpeg"
    with Image.open(io.BytesIO(base64.b64decode(images[0]["data"]))) as preview:
        assert preview.size == (1024, 768)
    structured = called["structuredContent"]
    assert structured["position"] == "bottom-left" and structured["scene"].startswith("beach")
    assert Path(structured["path"]).is_relative_to(settings.home) and Path(structured["path"]).is_file()
