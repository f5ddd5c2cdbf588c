"""Model jobs recorded in the store (real SQLite) from the MCP side: done with timings and the asset each
made, failed with the reason, abandoned ones marked failed; `productshot store jobs` lists them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
from PIL import Image

from productshot.settings import Settings
from productshot.store import AssetStore
from tests.support.mcp_client import error_text, memory_session, ok


def test_each_model_job_of_a_call_is_recorded_with_its_asset(
    tmp_path: Path, settings: Settings, cli_env: dict[str, str]
) -> None:
    flat = tmp_path / "flat.png"
    Image.new("RGB", (160, 160), (90, 90, 90)).save(flat)

    async def scenario() -> tuple[dict[str, object], str]:
        async with memory_session(settings) as client:
            shot = ok(
                await client.call_tool(
                    "place_product",
                    {
                        "image": "sample:coffee",
                        "request": "on white marble",
                        "model": "studio",
                        "width": 320,
                        "height": 240,
                    },
                )
            )
            refused = error_text(await client.call_tool("remove_background", {"image": str(flat)}))
            return shot, refused

    shot, refused = anyio.run(scenario)
    with AssetStore.open(settings) as store:
        jobs = {job["kind"]: job for job in store.list_jobs()}
        failed = store.list_jobs(status="failed")
        stats = store.stats()["jobs"]
    cutout, generate = jobs["cutout"], jobs["generate"]
    assert cutout["status"] == generate["status"] == "done"
    assert cutout["assets"] == [shot["cutout_id"]] and generate["assets"] == [shot["background_id"]]
    assert cutout["seconds"] is not None and cutout["seconds"] >= 0 and cutout["started"] >= cutout["created"]
    assert generate["params"]["model"] == "studio" and generate["params"]["width"] == 320
    [failure] = failed
    assert failure["kind"] == "cutout" and failure["assets"] == [] and failure["finished"] is not None
    assert failure["error"] and failure["error"].split(": ", 1)[1] in refused
    assert stats["done"] == 2 and stats["failed"] == 1 and stats["running"] == 0

    listed = subprocess.run(
        [sys.executable, "-m", "productshot", "store", "jobs", "--json"],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert {job["id"] for job in json.loads(listed.stdout)["jobs"]} == {
        cutout["id"],
        generate["id"],
        failure["id"],
    }
    table = subprocess.run(
        [sys.executable, "-m", "productshot", "store", "jobs", "--status", "failed"],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failure["id"] in table.stdout and cutout["id"] not in table.stdout


def test_a_job_whose_process_died_is_marked_failed(settings: Settings) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    with AssetStore.open(settings) as store:
        job = store.create_job("generate", {"model": "studio"})
        store.update_job(job, status="running")
    # Pretend the job belonged to the process that has exited since.
    import sqlite3

    conn = sqlite3.connect(settings.db_path)
    conn.execute("UPDATE jobs SET pid = ? WHERE id = ?", (pid, job))
    conn.commit()
    conn.close()
    with AssetStore.open(settings) as store:
        assert store.mark_abandoned_jobs() == 1
        row = store.get_job(job)
    assert row["status"] == "failed" and f"pid {pid}" in row["error"] and row["finished"] is not None
