"""`productshot run` and `productshot chat` as a user runs them: real processes, a real stdio MCP server each,
one thread store in the data home shared by both commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.agent_harness import centre, placement_problems, write_cutout

pytestmark = pytest.mark.slow

CANVAS = ["-W", "512", "-H", "384", "--model", "studio"]
RUN_KEYS = {"path", "bbox", "steps", "thread", "backend", "seconds", "asset_id", "position", "scale"}


def productshot(
    args: list[str], env: dict[str, str], *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productshot", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_run_then_chat_then_run_share_one_conversation(cli_env: dict[str, str], tmp_path: Path) -> None:
    product = write_cutout(tmp_path / "bag.png")
    out = tmp_path / "shot.jpg"
    first = _json(
        productshot(
            [
                "run",
                "put this bag on a simple beach scene, bottom-left",
                "--image",
                str(product),
                "--thread",
                "cli-1",
                "-o",
                str(out),
                "--json",
                *CANVAS,
            ],
            cli_env,
        )
    )
    assert first.keys() >= RUN_KEYS
    assert first["thread"] == "cli-1" and first["path"] == str(out.resolve())
    assert placement_problems(tuple(first["bbox"]), "bottom-left", (512, 384)) == []
    assert [s["name"] for s in first["steps"]][:2] == ["plan", "cutout"] and first["backend"].startswith(
        "rules + "
    )
    with Image.open(out) as shot:
        assert shot.format == "JPEG" and shot.size == (512, 384)
    assert Path(first["stored_path"]).is_file()

    lines = "\n".join(
        [
            "move it a little to the right",
            "/thread",
            "조금 더 크게",
            f"/image {tmp_path / 'missing.png'}",
            "/new",
            "bigger",
            "/quit",
            "never read",
        ]
    )
    chat = productshot(["chat", "--thread", "cli-1", "--json", *CANVAS], cli_env, stdin=lines + "\n")
    assert chat.returncode == 1, chat.stderr  # it ran, but two of its lines answered an error
    turns = [json.loads(line) for line in chat.stdout.splitlines()]
    moved, bigger, no_photo = turns[0], turns[1], turns[-1]
    assert len(turns) == 4 and turns[2]["error"]["type"] == "bad_image"  # the missing /image file
    assert moved["thread"] == bigger["thread"] == "cli-1"
    assert centre(moved["bbox"])[0] > centre(first["bbox"])[0]
    assert bigger["bbox"][2] - bigger["bbox"][0] > moved["bbox"][2] - moved["bbox"][0]
    assert bigger["language"] == "ko" and "저장 위치" in bigger["reply"]
    assert no_photo["error"]["type"] == "bad_image"
    assert "no product photo attached" in no_photo["error"]["message"]
    # A pipe under --json: no progress bar (tests/test_cli_progress.py draws it on a terminal); the chat's notes.
    assert "place_product" not in chat.stderr
    assert "thread cli-1" in chat.stderr and "new thread t-" in chat.stderr

    undo = _json(productshot(["run", "undo", "--thread", "cli-1", "--json"], cli_env))
    assert undo["asset_id"] == moved["asset_id"] and undo["bbox"] == moved["bbox"]


def test_chat_prints_replies_and_result_paths_as_text(cli_env: dict[str, str], tmp_path: Path) -> None:
    product = write_cutout(tmp_path / "bag.png")
    chat = productshot(
        ["chat", "--quiet", *CANVAS],
        cli_env,
        stdin=f"/image {product}\n이 가방을 흰 대리석 위 가운데에 놓아줘\n",
    )
    assert chat.returncode == 0, chat.stderr
    lines = chat.stdout.strip().splitlines()
    assert lines[0].startswith("완성했어요") and "가운데" in lines[0]  # the reply, in the user's language
    assert lines[-1].startswith("result: ") and Path(lines[-1].removeprefix("result: ")).is_file()
    assert "place_product" not in chat.stderr  # --quiet: no progress lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "   ", "--image", "sample:coffee"], "request: empty"),
        (["run", "on marble", "--image", "nowhere/missing.png"], "does not exist"),
        (["run", "on marble", "--image", "sample:nope"], "unknown sample"),
        (["run", "on marble", "--thread", "bad id!"], "thread 'bad id!'"),
        (["run", "on marble", "--image", "sample:coffee", "-o", "shot.txt"], "use a .png, .jpg or .webp"),
    ],
)
def test_bad_input_fails_fast_with_a_named_error(
    cli_env: dict[str, str], args: list[str], message: str
) -> None:
    proc = productshot(args, cli_env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("productshot: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr
