"""Small hardening cases: no worker started for a model whose weights are missing, and control characters
kept out of the stored request text."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from productshot.errors import ModelError
from productshot.server.services import choose_services
from productshot.server.worker.lifecycle import log_path, read_record
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.store.validate import clean_text
from tests.support.mcp_client import error_text, memory_session, ok
from tests.support.worker_proc import free_port


def _autostart_settings(home: Path, tmp_path: Path) -> Settings:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_", "HF_"))}
    env.update(
        PRODUCTSHOT_HOME=str(home),
        PRODUCTSHOT_ALLOWED_DIRS=str(tmp_path),
        PRODUCTSHOT_WORKER_AUTOSTART="1",  # on: the refusal must come from the missing weights
        PRODUCTSHOT_WORKER_URL=f"http://127.0.0.1:{free_port()}",
        HF_HOME=str(tmp_path / "empty-hf-home"),
        HF_HUB_OFFLINE="1",
    )
    return Settings.from_mapping(env, home=home)


def test_no_worker_is_started_for_a_model_whose_weights_are_missing(home: Path, tmp_path: Path) -> None:
    settings = _autostart_settings(home, tmp_path)
    with pytest.raises(ModelError, match=r"no worker was started.*productshot models pull sdxl-turbo"):
        choose_services(settings, "sdxl-turbo")
    assert read_record(settings) is None and not log_path(settings).exists()

    async def scenario() -> str:
        async with memory_session(settings) as client:
            return error_text(
                await client.call_tool("generate_background", {"prompt": "beach", "model": "sdxl-turbo"})
            )

    message = anyio.run(scenario)
    assert "no worker was started" in message and "sdxl-turbo" in message
    assert read_record(settings) is None and not log_path(settings).exists()


def test_control_characters_never_reach_the_stored_request(settings: Settings) -> None:
    assert clean_text("on a\x00 beach\x1b[31m, left\x7f\n") == "on a  beach [31m, left"
    request = "put it on a simple beach\x00\x1b]0;pwned\x07, bottom-left\r\n"

    async def scenario() -> dict[str, object]:
        async with memory_session(settings) as client:
            return ok(
                await client.call_tool(
                    "place_product",
                    {
                        "image": "sample:coffee",
                        "request": request,
                        "model": "studio",
                        "width": 256,
                        "height": 192,
                    },
                )
            )

    shot = anyio.run(scenario)
    with AssetStore.open(settings) as store:
        stored = store.get(str(shot["asset_id"])).params["request"]
    assert not any(ord(ch) < 32 and ch not in "\t\n" for ch in stored) and "\x7f" not in stored
    assert stored.startswith("put it on a simple beach") and "bottom-left" in stored
    assert shot["position"] == "bottom-left"


def test_tests_point_at_a_worker_url_where_nothing_can_answer(settings: Settings) -> None:
    """A `productshot worker` on the default port must not get the tests' jobs: the settings fixture uses a
    port this test session holds bound (and never listens on), so no worker can appear there."""
    import socket

    from productshot.server.worker.lifecycle import probe, url_address
    from productshot.settings import DEFAULT_WORKER_URL

    assert settings.worker_url != DEFAULT_WORKER_URL
    assert probe(settings.worker_url, settings) is None
    _, port = url_address(settings.worker_url)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", port))  # taken for the whole session
