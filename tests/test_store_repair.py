"""A damaged store on real SQLite files: a named error instead of a crash, `store check` finding it,
`store repair` salvaging readable rows without deleting any file, and rows whose file is gone flagged."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from productshot.errors import NotFoundError, StoreCorruptError
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.store.repair import check_store, repair_store
from tests.test_mcp_tools import CONTRACT_INPUTS

ROWS = 240
FILLER = "x" * 400  # spreads the rows over many pages, so one damaged page loses only some of them


def _fill(home: Path, rows: int = ROWS) -> dict[str, str]:
    """A store of `rows` assets, each with its own file, in a chain of lineage; {asset id: file relpath}."""
    made: dict[str, str] = {}
    with AssetStore(home) as store:
        parent: str | None = None
        for i in range(rows):
            image = Image.new("RGB", (8, 8), (i % 256, i // 256, 7))
            asset = store.put_image(
                image,
                kind="input",
                parents=[parent] if parent else [],
                params={"i": i, "pad": FILLER},
                backend="t",
            )
            made[asset.id] = str(asset.path.relative_to(home))
            parent = asset.id if i % 2 == 0 else None
        job = store.create_job("cutout", {"i": 1})
        store.update_job(job, status="done", assets=[asset.id])
    return made


def _checkpoint(home: Path) -> None:
    conn = sqlite3.connect(home / "productshot.sqlite3")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _page_size(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def _assets_leaf_page(home: Path) -> int:
    """A leaf page of the assets table, read from its root (an interior b-tree page: type 0x05)."""
    db = home / "productshot.sqlite3"
    conn = sqlite3.connect(db)
    try:
        root = int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'assets'").fetchone()[0])
    finally:
        conn.close()
    size = _page_size(db)
    data = db.read_bytes()[(root - 1) * size : root * size]
    assert data[0] == 0x05, "the assets table should span several pages"
    cells = int.from_bytes(data[3:5], "big")
    pointer = int.from_bytes(data[12 + 2 * (cells // 2) : 14 + 2 * (cells // 2)], "big")
    return int.from_bytes(data[pointer : pointer + 4], "big")  # the middle cell's left child


def _damage_page(home: Path, page: int) -> None:
    """Overwrite a page (1-based, as SQLite counts) with noise, as a bad disk sector would."""
    db = home / "productshot.sqlite3"
    size = _page_size(db)
    with db.open("r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(os.urandom(size))


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productshot", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in (home / "assets").rglob("*") if p.is_file()}


def test_a_database_that_is_not_one_is_a_named_error_and_repair_keeps_every_file(
    home: Path, cli_env: dict[str, str]
) -> None:
    made = _fill(home, rows=12)
    _checkpoint(home)
    files_before = _files(home)
    db = home / "productshot.sqlite3"
    db.write_bytes(b"this is not a database " * 400)
    damaged_bytes = db.read_bytes()
    with pytest.raises(StoreCorruptError, match="store repair"):
        AssetStore(home)

    check = _cli(["store", "check", "--json"], cli_env)
    assert check.returncode == 1, check.stderr
    found = json.loads(check.stdout)
    assert found["database"] == "damaged" and not found["ok"]
    listing = _cli(["store", "list"], cli_env)
    assert listing.returncode != 0 and "store repair" in listing.stderr and "Traceback" not in listing.stderr

    repair = _cli(["store", "repair", "--json"], cli_env)
    assert repair.returncode == 0, repair.stderr
    report = json.loads(repair.stdout)
    assert report["repaired"] and report["salvaged_assets"] == 0
    assert Path(report["damaged_copy"]).read_bytes() == damaged_bytes  # moved aside, not deleted
    assert _files(home) == files_before  # no image file deleted
    assert len(report["recovered_files"]) == len(made)
    assert any("kind=recovered" in sentence for sentence in report["lost"])
    with AssetStore(home) as store:
        recovered = store.list(kind="recovered", limit=100)
        assert {a.params["recovered_file"] for a in recovered} == set(made.values())
        assert all(a.parents == () for a in recovered)
    assert _cli(["store", "check"], cli_env).returncode == 0


def test_a_damaged_page_loses_only_its_rows_and_the_rest_keep_their_ids(home: Path) -> None:
    made = _fill(home)
    _checkpoint(home)
    files_before = _files(home)
    _damage_page(home, _assets_leaf_page(home))
    assert check_store(home).database == "damaged"
    report = repair_store(home)
    assert report.repaired and report.damaged_copy and Path(report.damaged_copy).exists()
    assert 0 < report.salvaged_assets < len(made), report
    assert report.salvaged_jobs == 1
    assert _files(home) == files_before
    with AssetStore(home) as store:
        kept = store.list(limit=1000)
    by_id = {a.id: a for a in kept}
    survivors = {i for i in made if i in by_id}
    assert len(survivors) == report.salvaged_assets
    # Every original file is named again: by its surviving row, or by a recovered one.
    named = {str(a.path.relative_to(home)) for a in kept}
    assert named == set(made.values())
    assert len(report.recovered_files) == len(made) - len(survivors)
    # Lineage between surviving rows is intact; links to lost rows are dropped and counted.
    with AssetStore(home) as store:
        for asset in kept:
            if asset.kind == "input" and asset.parents:
                assert store.lineage(asset.id)[1].id == asset.parents[0]
    assert check_store(home).ok


def test_rows_whose_file_is_gone_are_flagged_and_a_follow_up_gets_a_named_error(
    home: Path, settings: Settings, cli_env: dict[str, str]
) -> None:
    with AssetStore(home) as store:
        keep = store.put_image(Image.new("RGB", (16, 16), (1, 2, 3)), kind="background", backend="t")
        gone = store.put_image(Image.new("RGB", (16, 16), (9, 9, 9)), kind="cutout", backend="t")
    gone.path.unlink()
    listing = _cli(["store", "list", "--json"], cli_env)
    rows = {row["id"]: row for row in json.loads(listing.stdout)["assets"]}
    assert rows[gone.id]["file_missing"] is True and rows[keep.id]["file_missing"] is False
    assert "FILE MISSING" in _cli(["store", "list"], cli_env).stdout
    assert "FILE MISSING" in _cli(["store", "show", gone.id], cli_env).stdout
    stats = json.loads(_cli(["store", "stats", "--json"], cli_env).stdout)
    assert stats["missing_files"] == 1
    check = _cli(["store", "check", "--json"], cli_env)
    assert check.returncode == 1 and json.loads(check.stdout)["missing_files"] == [gone.id]

    from productshot.server.mcp.inputs import resolve_image

    with AssetStore(home) as store, pytest.raises(NotFoundError, match=r"its image file .* is missing"):
        resolve_image(gone.id, name="product", store=store, settings=settings)


@pytest.mark.slow
def test_mcp_server_over_stdio_answers_every_call_with_the_store_error(
    home: Path, settings: Settings
) -> None:
    import anyio

    from tests.support.mcp_client import error_text, ok
    from tests.support.mcp_proc import server_env, stdio_session

    (home / "productshot.sqlite3").write_bytes(b"\x00not a database" * 64)
    env = server_env(settings.child_env())

    async def scenario() -> None:
        async with stdio_session(env, errlog=home.parent / "mcp-stdio.log") as client:
            assert len((await client.list_tools()).tools) == len(CONTRACT_INPUTS)
            for tool, arguments in (
                ("composite", {"background": "sample:coffee", "product": "sample:coffee"}),
                ("place_product", {"request": "on a beach", "image": "sample:coffee"}),
                ("check_split", {"image": "sample:coffee"}),
            ):
                message = error_text(await client.call_tool(tool, arguments))
                assert "is damaged" in message and "productshot store repair" in message, message
            # A call that needs no store still works: the server is up, not crashed.
            assert ok(await client.call_tool("write_prompt", {"request": "beach"}))["prompt"]

    anyio.run(scenario)


@pytest.mark.slow
def test_productshot_run_shows_the_store_error_not_connection_closed(
    home: Path, cli_env: dict[str, str]
) -> None:
    (home / "productshot.sqlite3").write_bytes(b"\x00not a database" * 64)
    proc = _cli(["run", "put it on a beach", "--image", "sample:coffee", "--model", "studio"], cli_env)
    assert proc.returncode != 0
    assert "is damaged" in proc.stderr and "store repair" in proc.stderr, proc.stderr
    assert "Connection closed" not in proc.stderr and "Traceback" not in proc.stderr
