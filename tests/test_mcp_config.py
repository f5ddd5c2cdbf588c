"""`productshot mcp config` (the Claude Desktop entry) and the HTTP safety settings it is served with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from productshot.cli.main import main
from productshot.errors import BadRequestError
from productshot.server.mcp.security import is_local_host, required_token, transport_security
from productshot.settings import Settings


def test_config_prints_an_absolute_command_and_the_home_but_no_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRODUCTSHOT_HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-leak")
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_leak")
    monkeypatch.setenv("PRODUCTSHOT_MCP_TOKEN", "mcp-do-not-leak")
    assert main(["mcp", "config", "--name", "shots"]) == 0
    printed = capsys.readouterr().out
    entry = json.loads(printed)["mcpServers"]["shots"]
    command = Path(entry["command"])
    assert command.is_absolute() and command.is_file()
    assert entry["args"][-1] == "mcp"
    assert entry["env"] == {"PRODUCTSHOT_HOME": str(home)}
    assert "leak" not in printed

    assert main(["mcp", "config", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["backend"] == "config" and "productshot" in payload["mcpServers"]
    assert "claude_desktop_config.json" in payload["config_files"]["macOS"]


def test_local_binds_allow_only_local_hosts_and_origins() -> None:
    security = transport_security("127.0.0.1")
    assert security.enable_dns_rebinding_protection
    assert {"127.0.0.1:*", "localhost:*", "[::1]:*"} <= set(security.allowed_hosts)
    assert "http://localhost:*" in security.allowed_origins
    assert not any("evil" in host for host in security.allowed_hosts)


def test_network_binds_add_the_named_hosts_only() -> None:
    security = transport_security("0.0.0.0", ["studio.lan", "10.0.0.7:8766"])
    assert {"studio.lan", "studio.lan:*", "10.0.0.7:8766"} <= set(security.allowed_hosts)
    assert "10.0.0.7:*" not in security.allowed_hosts  # a given port is kept exact
    assert {"http://studio.lan:*", "https://studio.lan"} <= set(security.allowed_origins)
    assert "0.0.0.0:*" not in security.allowed_hosts
    assert "192.168.1.20:*" in transport_security("192.168.1.20").allowed_hosts
    with pytest.raises(BadRequestError, match="--allowed-host"):
        transport_security("0.0.0.0", ["http://studio.lan/"])


def test_a_token_is_required_off_localhost(settings: Settings) -> None:
    assert is_local_host("127.0.0.1") and is_local_host("localhost") and is_local_host("::1")
    assert not is_local_host("0.0.0.0") and not is_local_host("192.168.1.20")
    assert required_token(settings, "127.0.0.1") is None
    with pytest.raises(BadRequestError, match="PRODUCTSHOT_MCP_TOKEN"):
        required_token(settings, "0.0.0.0")
    with_token = settings.with_overrides(mcp_token="t0ken")
    assert required_token(with_token, "0.0.0.0") == "t0ken"
    assert required_token(with_token, "127.0.0.1") == "t0ken"  # enforced whenever it is set
