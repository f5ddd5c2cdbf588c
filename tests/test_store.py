"""The asset store against real SQLite, real files and real processes (no mocks)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, NotFoundError, ProductshotError
from productshot.settings import Settings
from productshot.store import ASSET_ID_PATTERN, DB_NAME, AssetStore, GcReport
from productshot.store.schema import SCHEMA_VERSION

DAY = 86_400.0
T0 = 1_750_000_000.0  # a fixed "now" for fake-clock tests


@dataclass
class Clock:
    """A settable clock the store reads instead of time.time (a real object, not a mock)."""

    now: float

    def __call__(self) -> float:
        return self.now


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blob_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "assets").rglob("*") if p.is_file() and not p.name.startswith("."))


def temp_files(home: Path) -> list[Path]:
    return sorted((home / "assets").rglob(".tmp-*"))


@pytest.fixture
def store(home: Path) -> Iterator[AssetStore]:
    with AssetStore(home) as opened:
        yield opened


# ---- put / get -------------------------------------------------------------------------------------
def test_put_image_roundtrip_and_layout(store: AssetStore, home: Path) -> None:
    image = Image.new("RGBA", (40, 30), (200, 10, 10, 128))
    asset = store.put_image(image, kind="cutout", params={"model": "u2netp", "t": [1, 2]}, backend="u2netp")

    assert ASSET_ID_PATTERN.match(asset.id) and len(asset.id) == 17
    assert (asset.kind, asset.width, asset.height, asset.format, asset.backend) == (
        "cutout",
        40,
        30,
        "PNG",
        "u2netp",
    )
    assert asset.path == home / "assets" / asset.sha256[:2] / f"{asset.sha256}.png"
    assert sha256_of(asset.path) == asset.sha256
    assert asset.size_bytes == asset.path.stat().st_size
    with Image.open(asset.path) as stored:
        assert stored.mode == "RGBA" and stored.getpixel((3, 3)) == (200, 10, 10, 128)
    assert store.get(asset.id) == asset
    assert store.exists(asset.id) and not store.exists("a0000000000000000")
    assert json.loads(json.dumps(asset.to_dict()))["params"] == {"model": "u2netp", "t": [1, 2]}
    assert asset.to_dict()["mime"] == "image/png"

    jpeg = store.put_image(Image.new("RGB", (8, 8), "white"), kind="preview", backend="test", format="jpg")
    assert jpeg.format == "JPEG" and jpeg.path.suffix == ".jpg" and jpeg.to_dict()["mime"] == "image/jpeg"


def test_put_file_copies_input_byte_for_byte_and_leaves_source_untouched(
    store: AssetStore, tmp_path: Path
) -> None:
    source = tmp_path / "bag photo.jpg"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(source, format="JPEG", quality=87)
    before = (sha256_of(source), source.stat().st_mtime_ns, source.stat().st_size)

    asset = store.put_file(source)

    assert asset.path.read_bytes() == source.read_bytes()
    assert (sha256_of(source), source.stat().st_mtime_ns, source.stat().st_size) == before
    assert (asset.kind, asset.backend, asset.format, asset.width, asset.height) == (
        "input",
        "input",
        "JPEG",
        64,
        48,
    )
    assert asset.params == {"filename": "bag photo.jpg"}
    assert asset.path.suffix == ".jpg" and asset.path.parent.parent == store.home / "assets"


def test_same_bytes_twice_share_one_file(store: AssetStore, home: Path) -> None:
    data = png_bytes((1, 2, 3))
    first = store.put_bytes(data, kind="background", backend="studio", params={"seed": 1})
    second = store.put_bytes(data, kind="background", backend="studio", params={"seed": 2})

    assert first.id != second.id and first.path == second.path
    assert blob_files(home) == [first.path]
    assert [a.params["seed"] for a in store.list()] == [2, 1]
    assert temp_files(home) == []


def test_lineage_children_and_list(home: Path) -> None:
    clock = Clock(T0)
    with AssetStore(home, clock=clock) as store:
        product = store.put_bytes(png_bytes((9, 9, 9)), kind="input", backend="input")
        clock.now += 10
        cutout = store.put_bytes(png_bytes((8, 8, 8)), kind="cutout", parents=[product.id], backend="u2netp")
        clock.now += 10
        background = store.put_bytes(png_bytes((7, 7, 7)), kind="background", backend="studio")
        clock.now += 10
        result = store.put_bytes(
            png_bytes((6, 6, 6)), kind="result", parents=[background.id, cutout.id], backend="composite"
        )

        assert result.parents == (background.id, cutout.id)
        # nearest generation first; within one generation, newest first
        assert [a.id for a in store.lineage(result.id)] == [result.id, background.id, cutout.id, product.id]
        assert [a.id for a in store.lineage(product.id)] == [product.id]
        assert [a.id for a in store.children(product.id)] == [cutout.id]
        assert [a.id for a in store.children(cutout.id)] == [result.id]
        assert store.children(result.id) == []

        assert [a.id for a in store.list()] == [result.id, background.id, cutout.id, product.id]
        assert [a.id for a in store.list(kind="cutout")] == [cutout.id]
        assert [a.id for a in store.list(limit=2)] == [result.id, background.id]
        assert [a.id for a in store.list(since=T0 + 15)] == [result.id, background.id]
        assert sorted(a.id for a in store.list()) == [a.id for a in store.list()][::-1]  # ids sort by time
        stats = store.stats()
        assert stats["assets"] == 4 and stats["by_kind"]["input"] == 1 and stats["files"] == 4
        assert stats["bytes_on_disk"] == sum(p.stat().st_size for p in blob_files(home))


def test_bad_arguments_get_named_errors_and_leave_nothing_behind(
    store: AssetStore, home: Path, tmp_path: Path
) -> None:
    data = png_bytes((5, 5, 5))
    with pytest.raises(BadRequestError, match="kind must be one of"):
        store.put_bytes(data, kind="poster", backend="test")
    with pytest.raises(BadRequestError, match="backend"):
        store.put_bytes(data, kind="input", backend="")
    with pytest.raises(NotFoundError, match="parent asset 'a404'"):
        store.put_bytes(data, kind="result", parents=["a404"], backend="test")
    with pytest.raises(BadRequestError, match="parents"):  # a bare string is not a list of ids
        store.put_bytes(data, kind="result", parents="a404", backend="test")
    with pytest.raises(BadRequestError, match="params must be JSON"):
        store.put_bytes(data, kind="input", params={"path": Path("x")}, backend="test")
    with pytest.raises(BadImageError, match="not an image"):
        store.put_bytes(b"<html>definitely not a png</html>", kind="input", backend="test")
    with pytest.raises(BadImageError, match="empty"):
        store.put_bytes(b"", kind="input", backend="test")
    with pytest.raises(BadRequestError, match="JPEG cannot store a mode RGBA"):
        store.put_image(Image.new("RGBA", (4, 4)), kind="result", backend="test", format="JPEG")
    with pytest.raises(BadRequestError, match="format must be one of"):
        store.put_image(Image.new("RGB", (4, 4)), kind="result", backend="test", format="PSD")
    with pytest.raises(NotFoundError, match="does not exist"):
        store.put_file(tmp_path / "missing.png")
    text_file = tmp_path / "notes.png"
    text_file.write_text("not really an image")
    with pytest.raises(BadImageError, match=r"notes\.png"):
        store.put_file(text_file)
    assert text_file.read_text() == "not really an image"
    with pytest.raises(NotFoundError, match="a0000000000000000"):
        store.get("a0000000000000000")
    with pytest.raises(NotFoundError, match="a0000000000000000"):
        store.lineage("a0000000000000000")
    with pytest.raises(BadRequestError, match="limit"):
        store.list(limit=0)
    with pytest.raises(BadRequestError, match="older_than_days"):
        store.gc(-1)

    assert store.list() == [] and blob_files(home) == [] and temp_files(home) == []


def test_one_store_from_many_threads(store: AssetStore) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                store.put_bytes(png_bytes((worker, i, 0)), kind="result", backend="test")
                store.list(limit=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(store.list(limit=500)) == 80


# ---- several processes at once ---------------------------------------------------------------------
WRITER = r"""
import sys, time
from pathlib import Path
from PIL import Image
from productshot.store import AssetStore

home, worker, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
store = AssetStore(home)  # all four open a fresh home at once: schema creation races too
for i in range(25):
    # Every fifth image is the same in all processes, so they write identical files concurrently.
    colour = (i, 0, 0) if i % 5 == 0 else (i, worker + 1, 200)
    asset = store.put_image(Image.new("RGB", (32, 32), colour), kind="result", params={"i": i}, backend="test")
    print(asset.id, asset.sha256, flush=True)
store.close()
"""


@pytest.mark.slow
def test_four_processes_write_at_once(home: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [proc.communicate(timeout=120) for proc in procs]

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err and "busy" not in err
    written = [line.split() for out, _ in outputs for line in out.splitlines()]
    assert len(written) == 100 and len({asset_id for asset_id, _ in written}) == 100

    with AssetStore(home) as store:
        assets = store.list(limit=1000)
        assert len(assets) == 100
        assert {a.id: a.sha256 for a in assets} == dict(written)
        for asset in assets:
            assert sha256_of(asset.path) == asset.sha256
            with Image.open(asset.path) as image:
                image.load()
    distinct = {sha for _, sha in written}
    assert len(distinct) == 5 + 4 * 20
    assert len(blob_files(home)) == len(distinct)
    assert temp_files(home) == []
    with sqlite3.connect(home / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# ---- crash safety ----------------------------------------------------------------------------------
JOB_OWNER = r"""
import os, sys
from pathlib import Path
from productshot.store import AssetStore

store = AssetStore(Path(sys.argv[1]))
job = store.create_job("generate", {"prompt": "beach"})
store.update_job(job, status="running")
print(job, flush=True)
sys.stdin.read()  # stay alive until the test closes our stdin, then die without cleaning up
os._exit(3)
"""


def test_jobs_of_a_dead_process_are_marked_failed(store: AssetStore, home: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", JOB_OWNER, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None and owner.stdin is not None
    job_id = owner.stdout.readline().strip()
    mine = store.create_job("cutout", {"model": "u2netp"})
    store.update_job(mine, status="running")

    assert store.mark_abandoned_jobs() == 0  # the owner is still alive
    assert store.get_job(job_id)["status"] == "running"

    owner.communicate(timeout=30)  # closes its stdin: it exits without marking its job
    assert owner.returncode == 3
    assert store.mark_abandoned_jobs() == 1
    job = store.get_job(job_id)
    assert job["status"] == "failed" and f"pid {owner.pid}" in job["error"]
    assert (job["kind"], job["params"], job["pid"]) == ("generate", {"prompt": "beach"}, owner.pid)
    assert store.get_job(mine)["status"] == "running"  # this process is alive
    assert store.mark_abandoned_jobs() == 0


def test_job_lifecycle(store: AssetStore) -> None:
    job_id = store.create_job("place_product", {"request": "bottom-left on a beach"})
    job = store.get_job(job_id)
    assert job["status"] == "queued" and job["pid"] == os.getpid() and job["assets"] == []
    first = store.put_bytes(png_bytes((1, 1, 1)), kind="input", backend="input")
    second = store.put_bytes(png_bytes((2, 2, 2)), kind="result", parents=[first.id], backend="test")
    store.update_job(job_id, status="running", assets=[first.id])
    store.update_job(job_id, status="done", assets=[second.id, first.id])
    assert store.get_job(job_id)["assets"] == [first.id, second.id]
    with pytest.raises(BadRequestError, match="already ended as done"):
        store.update_job(job_id, status="running")
    with pytest.raises(BadRequestError, match="status must be one of"):
        store.update_job(job_id, status="finished")
    with pytest.raises(NotFoundError, match="j404"):
        store.get_job("j404")
    failing = store.create_job("generate", {})
    with pytest.raises(NotFoundError, match="a404"):
        store.update_job(failing, status="done", assets=["a404"])
    store.update_job(failing, status="failed", error="worker died")
    assert store.get_job(failing)["error"] == "worker died"


PUT_ONE = r"""
import sys
from pathlib import Path
from productshot.store import AssetStore

AssetStore(Path(sys.argv[1])).put_bytes(Path(sys.argv[2]).read_bytes(), kind="input", backend="input")
"""


@pytest.mark.slow
def test_a_write_killed_between_file_and_row_leaves_no_row_and_gc_cleans_the_file(
    store: AssetStore, home: Path, tmp_path: Path
) -> None:
    source = tmp_path / "input.png"
    source.write_bytes(png_bytes((42, 42, 42), size=(50, 50)))
    target = home / "assets" / sha256_of(source)[:2] / f"{sha256_of(source)}.png"
    blocker = sqlite3.connect(home / DB_NAME, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer gets its file down, then waits for the row's lock
    writer = subprocess.Popen([sys.executable, "-c", PUT_ONE, str(home), str(source)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.01)
        assert target.exists(), "the writer never wrote its file"
    finally:
        writer.kill()
        writer.communicate(timeout=30)
        blocker.execute("ROLLBACK")
        blocker.close()

    assert store.list() == []  # no row, so no row pointing at a file that is not there
    assert sha256_of(target) == sha256_of(source)  # and the file that is there is whole
    assert store.gc(1).files_removed == 0  # too recent: might belong to a write in progress
    report = store.gc(1, now=time.time() + 2 * DAY)
    assert report == GcReport(
        assets_removed=0, files_removed=1, bytes_freed=source.stat().st_size, dry_run=False
    )
    assert not target.exists()


@pytest.mark.slow
def test_a_file_removed_by_gc_before_its_row_is_written_again(
    store: AssetStore, home: Path, tmp_path: Path
) -> None:
    source = tmp_path / "input.png"
    source.write_bytes(png_bytes((43, 43, 43), size=(30, 20)))
    target = home / "assets" / sha256_of(source)[:2] / f"{sha256_of(source)}.png"
    blocker = sqlite3.connect(home / DB_NAME, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # stands in for a gc holding the write lock
    writer = subprocess.Popen([sys.executable, "-c", PUT_ONE, str(home), str(source)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.01)
        assert target.exists(), "the writer never wrote its file"
        target.unlink()  # what gc does to a file no row references yet
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err

    [asset] = store.list()
    assert asset.path == target and sha256_of(target) == asset.sha256 == sha256_of(source)


def test_gc_removes_stale_temp_files_only(store: AssetStore, home: Path) -> None:
    folder = home / "assets" / "ab"
    folder.mkdir(parents=True)
    stale, fresh, foreign = folder / ".tmp-crashed.part", folder / ".tmp-writing.part", folder / "notes.txt"
    for path in (stale, fresh, foreign):
        path.write_bytes(b"x" * 100)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    assert store.gc(0, dry_run=True) == GcReport(0, 1, 100, dry_run=True)
    assert stale.exists()
    assert store.gc(0) == GcReport(0, 1, 100, dry_run=False)
    assert not stale.exists() and fresh.exists() and foreign.exists()


def test_gc_with_a_fake_clock_keeps_recent_assets_their_ancestors_and_shared_files(home: Path) -> None:
    clock = Clock(T0 - 30 * DAY)
    with AssetStore(home, clock=clock) as store:
        product = store.put_bytes(png_bytes((1, 0, 0)), kind="input", backend="input")
        cutout = store.put_bytes(png_bytes((2, 0, 0)), kind="cutout", parents=[product.id], backend="u2netp")
        old_background = store.put_bytes(
            png_bytes((3, 0, 0), size=(90, 60)), kind="background", backend="studio"
        )
        old_shared = store.put_bytes(png_bytes((4, 0, 0)), kind="background", backend="studio")
        clock.now = T0 - 1 * DAY
        result = store.put_bytes(
            png_bytes((5, 0, 0)), kind="result", parents=[cutout.id], backend="composite"
        )
        recent_shared = store.put_bytes(png_bytes((4, 0, 0)), kind="background", backend="studio")
        assert recent_shared.path == old_shared.path

        every = {a.id for a in store.list()}
        planned = store.gc(7, dry_run=True, now=T0)
        assert planned == GcReport(2, 1, old_background.size_bytes, dry_run=True)
        assert {a.id for a in store.list()} == every and old_background.path.exists()

        assert store.gc(7, now=T0) == GcReport(2, 1, old_background.size_bytes, dry_run=False)
        assert {a.id for a in store.list()} == every - {old_background.id, old_shared.id}
        assert not old_background.path.exists()
        assert recent_shared.path.exists()  # still referenced by the recent asset
        assert [a.id for a in store.lineage(result.id)] == [result.id, cutout.id, product.id]

        assert store.gc(7, now=T0) == GcReport(0, 0, 0, dry_run=False)  # nothing more to do
        remaining = [product, cutout, result, recent_shared]
        everything_else = store.gc(0.5, now=T0 + DAY)
        assert everything_else == GcReport(4, 4, sum(a.size_bytes for a in remaining), dry_run=False)
        assert store.list() == [] and blob_files(home) == []


# ---- database errors -------------------------------------------------------------------------------
def test_a_locked_database_becomes_a_clear_error(store: AssetStore, home: Path) -> None:
    blocker = sqlite3.connect(home / DB_NAME, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with AssetStore(home, busy_timeout=0.2) as impatient:
            assert impatient.list() == []  # reading never waits for a writer in WAL mode
            with pytest.raises(ProductshotError, match=r"stayed busy for 0\.2 s") as caught:
                impatient.put_bytes(png_bytes((3, 3, 3)), kind="input", backend="test")
            assert not isinstance(caught.value, sqlite3.Error)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.put_bytes(png_bytes((3, 3, 3)), kind="input", backend="test").kind == "input"


def test_schema_versions_and_broken_databases(home: Path, settings: Settings) -> None:
    with AssetStore.open(settings) as store:
        assert store.db_path == settings.db_path and store.home / "assets" == settings.assets_dir
        asset = store.put_bytes(png_bytes((7, 7, 7)), kind="input", backend="input")
    with AssetStore(home) as reopened:
        assert reopened.get(asset.id) == asset
    with sqlite3.connect(home / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(ProductshotError, match="schema version 999, newer than"):
        AssetStore(home)

    garbage = home.parent / "garbage"
    garbage.mkdir()
    (garbage / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(ProductshotError, match=DB_NAME):
        AssetStore(garbage)

    closed = AssetStore(home.parent / "other")
    closed.close()
    with pytest.raises(ProductshotError, match="is closed"):
        closed.list()


# ---- CLI through a real subprocess -----------------------------------------------------------------
def cli(cli_env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productshot", "store", *args],
        env=cli_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_cli_list_show_gc(settings: Settings, cli_env: dict[str, str], tmp_path: Path) -> None:
    with AssetStore.open(settings) as store:
        product = store.put_bytes(png_bytes((1, 2, 3)), kind="input", backend="input")
        cutout = store.put_bytes(png_bytes((3, 2, 1)), kind="cutout", parents=[product.id], backend="u2netp")

    listed = cli(cli_env, tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    payload = json.loads(listed.stdout)
    assert {"assets", "count", "backend", "seconds"} <= payload.keys()
    assert payload["backend"] == "store" and payload["count"] == 2
    assert [a["id"] for a in payload["assets"]] == [cutout.id, product.id]
    assert payload["assets"][0] == {**json.loads(json.dumps(cutout.to_dict())), "file_missing": False}

    only_inputs = json.loads(cli(cli_env, tmp_path, "list", "--kind", "input", "--json").stdout)
    assert [a["id"] for a in only_inputs["assets"]] == [product.id]

    table = cli(cli_env, tmp_path, "list")
    assert table.returncode == 0 and "ID" in table.stdout.splitlines()[0]
    assert cutout.id in table.stdout and "24x16" in table.stdout and product.id in table.stdout

    shown = json.loads(cli(cli_env, tmp_path, "show", cutout.id, "--json").stdout)
    assert shown["asset"]["id"] == cutout.id and shown["backend"] == "store"
    assert [a["id"] for a in shown["lineage"]] == [cutout.id, product.id]
    assert cutout.id in cli(cli_env, tmp_path, "show", product.id).stdout  # listed as a child

    dry = json.loads(cli(cli_env, tmp_path, "gc", "--older-than", "0", "--dry-run", "--json").stdout)
    assert dry == {**dry, "assets_removed": 2, "files_removed": 2, "dry_run": True, "backend": "store"}
    assert "seconds" in dry and dry["bytes_freed"] == product.size_bytes + cutout.size_bytes
    kept = cli(cli_env, tmp_path, "gc", "--older-than", "30")
    assert kept.returncode == 0 and "removed 0 assets" in kept.stdout
    done = json.loads(cli(cli_env, tmp_path, "gc", "--older-than", "0", "--json").stdout)
    assert (done["assets_removed"], done["files_removed"], done["dry_run"]) == (2, 2, False)
    assert json.loads(cli(cli_env, tmp_path, "list", "--json").stdout)["count"] == 0

    missing = cli(cli_env, tmp_path, "show", "a0000000000000000")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "a0000000000000000" in missing.stderr
    assert "Traceback" not in missing.stderr

    bad_kind = cli(cli_env, tmp_path, "list", "--kind", "poster")
    assert bad_kind.returncode == 2 and "invalid choice" in bad_kind.stderr


def test_cli_module_is_cheap_to_import() -> None:
    probe = "import sys, productshot.cli.store_cmds; print(sorted(m for m in ('PIL', 'numpy') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
