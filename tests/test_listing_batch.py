"""`productshot batch`: a folder with a broken file and a duplicate name, a CP949 CSV, a resume that redoes
nothing, and a real subprocess interrupted with SIGINT that leaves no partial file."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from productshot.cli.main import main
from productshot.server.listing_batch import MANIFEST_NAME, plan_jobs, read_csv_text, run_batch
from productshot.settings import Settings
from productshot.tools.cutout import Cutter
from productshot.tools.listing_check import check_listing_bytes
from productshot.tools.listing_presets import get_preset
from tests.support.imagegen import make_product, on_background
from tests.support.signals import default_sigint
from tests.support.terminal import drain
from tests.support.waiting import wait_until


def _cutout(path: Path, kind: str = "bottle", color: tuple[int, int, int] = (170, 40, 45)) -> Path:
    """A transparent product PNG (a seller's existing cutout: used as is, no model needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = Image.new("RGBA", (420, 420), (0, 0, 0, 0))
    canvas.paste(make_product((200, 300), kind, color), (60, 70))  # type: ignore[arg-type]
    canvas.save(path)
    return path


def _photo(path: Path) -> Path:
    """A product photographed on a light grey sweep (the cutout model runs on it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    photo, _ = on_background(
        make_product((160, 240), "cup", (40, 90, 160)), (236, 236, 240), canvas=(360, 360)
    )
    photo.save(path, quality=92)
    return path


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in settings.child_env().items():
        monkeypatch.setenv(key, value)
    return settings


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["batch", *args, "--json"])
    captured = capsys.readouterr()
    assert captured.err == ""  # progress goes to stderr only when it is a terminal
    return code, json.loads(captured.out)  # stdout holds the summary and nothing else


def _mtimes(folder: Path) -> dict[str, int]:
    """Modification times of the listing images (the contact sheet is redrawn every run)."""
    return {
        p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
        for p in folder.rglob("*.jpg")
        if p.name != "contact.jpg"
    }


def test_folder_batch_broken_file_duplicate_names_resume_and_force(
    tmp_path: Path, env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    _cutout(photos / "a" / "shoe.png")
    _cutout(photos / "b" / "shoe.png", "box", (40, 120, 60))
    _cutout(photos / "shoe.png", "cup", (30, 30, 30))
    _photo(photos / "shoe.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (photos / "notes.txt").write_text("not a photo")
    _cutout(photos / ".thumbs" / "x.png")
    out = tmp_path / "out"

    code, summary = _run(capsys, str(photos), "-o", str(out), "--preset", "coupang")
    assert code == 1  # the broken file failed
    assert summary["done"] == 4 and summary["skipped"] == 0
    assert [f["file"] for f in summary["failed"]] == ["broken.jpg"]
    assert "broken.jpg" in summary["failed"][0]["error"]
    names = sorted(Path(p).relative_to(out).as_posix() for p in summary["outputs"])
    assert names == [
        "coupang/a/shoe.jpg",
        "coupang/b/shoe.jpg",
        "coupang/shoe-jpg.jpg",
        "coupang/shoe-png.jpg",
    ]
    hashes = {hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in summary["outputs"]}
    assert len(hashes) == 4  # four different products, none overwrote another
    for output in summary["outputs"]:
        assert check_listing_bytes(Path(output).read_bytes(), get_preset("coupang")).ok
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["done"] == 4 and len(report["items"]) == 5
    with Image.open(out / "contact.jpg") as sheet:
        sheet.load()
        assert sheet.width >= 4 * 200
    before = _mtimes(out)

    code, summary = _run(capsys, str(photos), "-o", str(out), "--preset", "coupang")
    assert code == 1 and summary["done"] == 0 and summary["skipped"] == 4
    assert _mtimes(out) == before  # nothing redone, nothing rewritten

    _cutout(photos / "b" / "shoe.png", "bottle", (200, 160, 20))  # one input changed
    code, summary = _run(capsys, str(photos), "-o", str(out), "--preset", "coupang")
    assert summary["done"] == 1 and summary["skipped"] == 3
    after = _mtimes(out)
    assert [k for k in after if after[k] != before[k]] == ["coupang/b/shoe.jpg"]

    (photos / "broken.jpg").unlink()
    code, summary = _run(capsys, str(photos), "-o", str(out), "--preset", "coupang", "--force")
    assert code == 0 and summary["done"] == 4 and summary["skipped"] == 0 and summary["failed"] == []


def test_a_cp949_csv_with_presets_per_row_and_lifestyle_rows(
    tmp_path: Path, env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "catalogue"
    _cutout(folder / "신발.png")
    _cutout(folder / "가방.png", "box", (90, 60, 30))
    rows = [
        "photo,request,preset",
        "신발.png,,coupang",
        "신발.png,흰 대리석 위에,lifestyle",
        "가방.png,,",
        "가방.png,,lifestyle",
        "없는사진.png,,amazon",
    ]
    csv_path = folder / "상품.csv"
    csv_path.write_bytes("\r\n".join(rows).encode("cp949"))

    code, summary = _run(capsys, str(csv_path), "-o", str(tmp_path / "out"), "--preset", "naver")
    assert code == 1
    assert summary["done"] == 3
    names = sorted(Path(p).relative_to(tmp_path / "out").as_posix() for p in summary["outputs"])
    assert names == ["coupang/신발.jpg", "lifestyle/신발.jpg", "naver/가방.jpg"]
    failed = {f["file"]: f["error"] for f in summary["failed"]}
    assert set(failed) == {"가방.png", "없는사진.png"}
    assert "needs a request" in failed["가방.png"] and "does not exist" in failed["없는사진.png"]

    # The same CSV saved as UTF-8 with a BOM (Excel's "CSV UTF-8") reads the same.
    bom = folder / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode("utf-8"))
    assert read_csv_text(bom).splitlines()[0] == "photo,request,preset"
    jobs, bad = plan_jobs(bom, tmp_path / "out2", "naver")
    assert [(j.label, j.preset.name) for j in jobs] == [
        ("신발.png", "coupang"),
        ("신발.png", "lifestyle"),
        ("가방.png", "naver"),
        ("없는사진.png", "amazon"),
    ]
    assert [b["file"] for b in bad] == ["가방.png"]


def test_the_cutout_session_is_loaded_once_per_batch(tmp_path: Path, settings: Settings) -> None:
    photos = tmp_path / "photos"
    for name in ("one", "two", "three"):
        _photo(photos / f"{name}.jpg")
    made: list[Cutter] = []

    def cut():  # type: ignore[no-untyped-def]
        made.append(Cutter(u2net_home=settings.u2net_home))
        return made[-1].cut

    report = run_batch(photos, tmp_path / "out", default_preset="gmarket", cut=cut)
    assert report.done == 3 and report.failed == []
    assert len(made) == 1 and made[0].loaded


@pytest.mark.slow
def test_sigint_mid_batch_leaves_no_partial_file_and_the_rerun_resumes(
    tmp_path: Path, cli_env: dict[str, str], env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    for i in range(12):
        _cutout(photos / f"item{i:02d}.png", ("bottle", "cup", "box")[i % 3], (20 * i, 60, 200 - 10 * i))
    out = tmp_path / "out"
    manifest = out / MANIFEST_NAME
    proc = subprocess.Popen(
        [sys.executable, "-m", "productshot", "batch", str(photos), "-o", str(out), "--preset", "amazon"],
        env=cli_env,
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: manifest.is_file() and json.loads(manifest.read_text())["entries"],
            what="first output",
            timeout=120,
        )
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    entries = json.loads(manifest.read_text())["entries"]
    written = sorted(_mtimes(out))
    assert 1 <= len(written) < 12, written  # stopped mid-batch
    for name in written:  # every file there is whole and is the one the manifest records
        data = (out / name).read_bytes()
        with Image.open(out / name) as image:
            image.load()
        assert entries[name]["output"] == hashlib.sha256(data).hexdigest()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["interrupted"] is True

    code, summary = _run(capsys, str(photos), "-o", str(out), "--preset", "amazon")
    assert code == 0 and summary["skipped"] == len(written) and summary["done"] == 12 - len(written)
    assert os.path.isfile(out / "contact.jpg")


@pytest.mark.slow
def test_progress_with_eta_goes_to_a_terminal_stderr_only(tmp_path: Path, cli_env: dict[str, str]) -> None:
    import pty

    photos = tmp_path / "photos"
    for i in range(3):
        _cutout(photos / f"p{i}.png", ("bottle", "cup", "box")[i])
    command = [sys.executable, "-m", "productshot", "batch", str(photos), "-o", str(tmp_path / "out")]
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [*command, "--preset", "naver"],  # no --json: under --json the bar stays quiet
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=300,
        )
        os.close(follower)
        follower = -1
        terminal = drain(leader)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert proc.returncode == 0
    assert "p0.png" in terminal and "p2.png" in terminal and "s left)" in terminal and "2/3" in terminal
    assert proc.stdout.decode().startswith("batch: 3 done")  # stdout: the summary alone, no progress mixed in
