"""The command line's contract, through real `python -m productshot` processes: exit 0 done, 1 ran but not
OK, 2 usage or bad input, 3 internal; with `--json` an error is `{"error": {"type", "message"}}` on stdout;
never a traceback unless PRODUCTSHOT_DEBUG=1 asks for one."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from productshot.cli.exits import ERROR_LOG
from productshot.cli.main import build_parser
from tests.conftest import REPO_ROOT
from tests.support.broken_command import MESSAGE
from tests.support.landscapes import landscape
from tests.support.worker_proc import free_port

# `productshot` with one extra command module whose handler has a bug (tests/support/broken_command.py).
WITH_BROKEN_COMMAND = (
    "import sys; from productshot.cli import main; "
    "main.COMMAND_MODULES += ('tests.support.broken_command',); sys.exit(main.main())"
)


def productshot(env: dict[str, str], *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    launch = ["-c", code] if code is not None else ["-m", "productshot"]
    return subprocess.run(
        [sys.executable, *launch, *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def json_error(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON object on stdout, which must be an error of the documented shape."""
    payload = json.loads(proc.stdout)
    assert set(payload) == {"error"} and set(payload["error"]) == {"type", "message"}, payload
    return dict(payload["error"])


def test_bad_input_exits_2_with_a_json_error_and_no_traceback(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.png"
    as_json = productshot(cli_env, "cutout", str(missing), "-o", str(tmp_path / "o.png"), "--json")
    assert as_json.returncode == 2, as_json.stderr
    error = json_error(as_json)
    assert error["type"] == "not_found" and "missing.png" in error["message"]
    assert "Traceback" not in as_json.stderr

    as_text = productshot(cli_env, "cutout", str(missing), "-o", str(tmp_path / "o.png"))
    assert as_text.returncode == 2 and as_text.stdout == ""
    assert as_text.stderr.startswith("productshot: error: ") and "missing.png" in as_text.stderr
    assert not (tmp_path / "o.png").exists()


def test_usage_errors_exit_2_and_are_json_when_asked(cli_env: dict[str, str]) -> None:
    as_text = productshot(cli_env, "backdrop", "simple beach")  # -o is required
    assert as_text.returncode == 2 and as_text.stdout == ""
    assert as_text.stderr.startswith("usage: productshot backdrop")
    assert "productshot backdrop: error: the following arguments are required: -o/--output" in as_text.stderr

    as_json = productshot(cli_env, "backdrop", "simple beach", "--json", "-W", "wide")
    assert as_json.returncode == 2, as_json.stderr
    error = json_error(as_json)
    assert error["type"] == "usage" and "invalid int value: 'wide'" in error["message"]
    assert as_json.stderr == ""

    unknown = productshot(cli_env, "no-such-command", "--json")
    assert unknown.returncode == 2 and json_error(unknown)["type"] == "usage"


def test_a_check_that_finds_a_problem_exits_1(cli_env: dict[str, str], tmp_path: Path) -> None:
    one_scene = landscape("sea", 512, 384, seed=1)
    stacked = Image.new("RGB", (512, 384))
    stacked.paste(one_scene.crop((0, 0, 512, 192)), (0, 0))
    stacked.paste(landscape("sunset", 512, 384, seed=2), (0, 192))  # a sunset sea pasted under a day sea
    one_scene.save(tmp_path / "one.png")
    stacked.save(tmp_path / "stacked.png")

    fine = productshot(cli_env, "check-split", str(tmp_path / "one.png"), "--json")
    assert fine.returncode == 0, fine.stderr
    assert json.loads(fine.stdout)["split"] is False
    found = productshot(cli_env, "check-split", str(tmp_path / "stacked.png"), "--json")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)  # the result is still printed in full: it ran, the check failed
    assert report["split"] is True and 150 < report["seam_y"] < 240


def test_a_failure_that_is_not_the_users_exits_3(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "PRODUCTSHOT_WORKER_URL": f"http://127.0.0.1:{free_port()}"}  # no worker, no auto-start
    proc = productshot(env, "generate", "simple beach", "-o", str(tmp_path / "bg.png"), "--json")
    assert proc.returncode == 3, proc.stderr
    error = json_error(proc)
    assert error["type"] == "worker_unavailable" and "PRODUCTSHOT_WORKER_AUTOSTART" in error["message"]
    assert "Traceback" not in proc.stderr and not (tmp_path / "bg.png").exists()


def test_a_bug_exits_3_with_its_traceback_in_the_log_not_on_screen(
    cli_env: dict[str, str], home: Path
) -> None:
    proc = productshot(cli_env, "broken", code=WITH_BROKEN_COMMAND)
    log = home / "logs" / ERROR_LOG
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"productshot: internal error: ZeroDivisionError: {MESSAGE}")
    assert str(log) in proc.stderr and "PRODUCTSHOT_DEBUG=1" in proc.stderr
    logged = log.read_text(encoding="utf-8")
    assert "productshot broken" in logged and "Traceback" in logged and "broken_command.py" in logged

    as_json = productshot(cli_env, "broken", "--json", code=WITH_BROKEN_COMMAND)
    assert as_json.returncode == 3
    error = json_error(as_json)
    assert error["type"] == "internal" and MESSAGE in error["message"] and str(log) in error["message"]

    debug = productshot({**cli_env, "PRODUCTSHOT_DEBUG": "1"}, "broken", code=WITH_BROKEN_COMMAND)
    assert debug.returncode == 3
    assert "Traceback (most recent call last)" in debug.stderr and "broken_command.py" in debug.stderr


def test_every_seed_option_says_what_it_does() -> None:
    seeds = []
    pending = [build_parser()]
    while pending:
        parser = pending.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
            elif "--seed" in action.option_strings:
                seeds.append((parser.prog, action.help))
    assert len(seeds) >= 5  # run, chat, backdrop, generate, bench models
    assert all(text and "seed" in text for _, text in seeds), seeds
