"""The `mcpServers` entry that tells Claude Desktop (or any MCP client) how to start this install's server.

It names the absolute path of this environment's `productshot` command and the data home, and never a
secret: API keys live in the data home's `.env`, which the server reads at start.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from productshot.settings import Settings

DEFAULT_HTTP_PORT = 8766  # the resident worker listens on 8765


def server_command() -> list[str]:
    """The command line that starts `productshot mcp` from this very environment (absolute paths)."""
    scripts = Path(sysconfig.get_path("scripts"))
    script = scripts / ("productshot.exe" if os.name == "nt" else "productshot")
    if script.is_file():
        return [str(script.absolute()), "mcp"]
    return [str(Path(sys.executable).absolute()), "-m", "productshot", "mcp"]


def client_config(settings: Settings, *, name: str = "productshot") -> dict[str, Any]:
    """`{"mcpServers": {name: {command, args, env}}}` for this install, ready to paste."""
    command, *args = server_command()
    return {
        "mcpServers": {
            name: {
                "command": command,
                "args": args,
                "env": {"PRODUCTSHOT_HOME": str(settings.home.absolute())},
            }
        }
    }


def desktop_config_paths() -> dict[str, str]:
    """Where Claude Desktop keeps its configuration file, per operating system."""
    return {
        "macOS": "~/Library/Application Support/Claude/claude_desktop_config.json",
        "Windows": r"%APPDATA%\Claude\claude_desktop_config.json",
    }


__all__ = ["DEFAULT_HTTP_PORT", "client_config", "desktop_config_paths", "server_command"]
