"""`productshot slack` as a process (HTTP mode, stopped by SIGTERM) and the bot in Socket Mode.

The CLI test runs the real command in a subprocess against the Slack stand-in: the ready line, a signed
event answered in its thread, /healthz, a clean stop on SIGTERM, and the log file. The Socket Mode test
connects the bot to the stand-in's WebSocket (apps.connections.open with the app-level token), pushes an
events_api envelope and checks bolt's acknowledgement and the answer in the thread.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from productshot.slack.config import SlackOptions
from productshot.slack.errors import SlackUnavailableError
from productshot.slack.service import SlackService
from tests.support.slack_api import SlackStandIn, bot_settings, event_payload, signed_request

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0
# Runs `productshot slack …` through the real CLI frame, with the slack command registered even before the
# lead adds it to COMMAND_MODULES (then this is a no-op).
LAUNCH = (
    "import sys; import productshot.cli.main as m; "
    "name = 'productshot.cli.slack_cmd'; "
    "m.COMMAND_MODULES = m.COMMAND_MODULES if name in m.COMMAND_MODULES else (*m.COMMAND_MODULES, name); "
    "sys.exit(m.main(sys.argv[1:]))"
)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


def mention(slack: SlackStandIn, text: str, ts: str, *, channel: str = "C0CLI") -> dict[str, object]:
    return event_payload(
        {
            "type": "app_mention",
            "user": "U0CLI",
            "text": f"<@{slack.bot_user_id}> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
    )


def notices(slack: SlackStandIn, channel: str, ts: str) -> list[str]:
    return [str(c.params["text"]) for c in slack.in_thread(channel, ts, "chat.postMessage")]


def cli_env(home: Path, slack: SlackStandIn, *, with_tokens: bool = True) -> dict[str, str]:
    settings = bot_settings(home, slack)
    env = dict(os.environ)
    for key in [k for k in env if k.startswith(("PRODUCTSHOT_", "OPENAI_", "SLACK_"))]:
        del env[key]
    env.update(settings.child_env())
    if with_tokens:
        env["SLACK_BOT_TOKEN"] = slack.bot_token
        env["SLACK_SIGNING_SECRET"] = slack.signing_secret
    return env


def test_the_command_refuses_to_start_without_a_bot_token(slack: SlackStandIn, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "slack", "--api-url", slack.base_url],
        env=cli_env(tmp_path / "home", slack, with_tokens=False),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()  # refused before anything was created or started


def test_the_command_serves_http_events_and_stops_cleanly_on_sigterm(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LAUNCH,
                "slack",
                "--port",
                "0",
                "--api-url",
                slack.base_url,
                "-W",
                "256",
                "-H",
                "192",
            ],
            env=cli_env(home, slack),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        url = _ready_url(process, errors)
        ts = "1700200001.000100"
        answer = signed_request(url, mention(slack, "put it on a beach", ts), slack.signing_secret)
        assert answer.status == 200
        texts = slack.wait_for(lambda s: notices(s, "C0CLI", ts), timeout=30)
        assert "attach a product photo" in texts[0]
        health_url = url.replace("/slack/events", "/healthz")
        with urllib.request.urlopen(health_url, timeout=10) as response:
            health = json.loads(response.read())
        assert health["ok"] is True and health["mode"] == "http" and health["capacity"] == 2 + 16
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    output = errors.read_text()
    assert code == 0, output
    assert "stopping" in output and "Traceback" not in output
    log = (home / "logs" / "slack.log").read_text()
    assert "app_mention event" in log and "no_image" in log


def _ready_url(process: subprocess.Popen[bytes], errors: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(r"ready, http mode, (http://\S+/slack/events);", errors.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"productshot slack exited with {process.returncode}:\n{errors.read_text()}")
        time.sleep(0.2)
    raise AssertionError(
        f"productshot slack was not ready within {READY_TIMEOUT_S:.0f}s:\n{errors.read_text()}"
    )


def test_socket_mode_takes_events_over_the_websocket(slack: SlackStandIn, tmp_path: Path) -> None:
    slack.enable_socket_mode()
    settings = bot_settings(tmp_path / "home", slack, socket_mode=True)
    with SlackService(settings, SlackOptions(api_url=slack.base_url)) as service:
        assert service.mode == "socket" and service.url is None
        ts = "1700200002.000100"
        envelope = slack.push_socket_event(mention(slack, "on a beach", ts, channel="C0SOCK"))
        slack.wait_for(lambda s: [a for a in s.socket_acks() if a.get("envelope_id") == envelope])
        texts = slack.wait_for(lambda s: notices(s, "C0SOCK", ts), timeout=30)
    assert "attach a product photo" in texts[0]
    opened = slack.calls("apps.connections.open")
    assert opened and all(call.token == slack.app_token for call in opened)


class IdleRuntime:
    """An agent stand-in for start-up tests that never reach a turn (the agent is tested elsewhere)."""

    async def __aenter__(self) -> IdleRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_a_refused_token_stops_the_start_with_the_variable_named(slack: SlackStandIn, tmp_path: Path) -> None:
    slack.enable_socket_mode()
    settings = bot_settings(tmp_path / "home", slack, socket_mode=True)
    wrong_app = settings.with_overrides(slack_app_token="xapp-wrong")
    with pytest.raises(SlackUnavailableError, match=r"SLACK_APP_TOKEN.*invalid_auth"):
        SlackService(wrong_app, SlackOptions(api_url=slack.base_url), runtime=IdleRuntime()).start()  # type: ignore[arg-type]
    wrong_bot = settings.with_overrides(slack_bot_token="xoxb-wrong", slack_app_token=None)
    with pytest.raises(SlackUnavailableError, match=r"SLACK_BOT_TOKEN.*invalid_auth"):
        SlackService(wrong_bot, SlackOptions(api_url=slack.base_url), runtime=IdleRuntime()).start()  # type: ignore[arg-type]
    # Each failed start let go of the data home: a good configuration starts on it now.
    with SlackService(settings, SlackOptions(api_url=slack.base_url), runtime=IdleRuntime()) as service:  # type: ignore[arg-type]
        assert service.mode == "socket"
