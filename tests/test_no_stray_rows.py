"""A failed call stores nothing: the CLI commands and the MCP tools, each failing at a different step, leave
the store's row count (real SQLite) exactly as it was; a call that succeeds stores all its rows at once."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import anyio
import pytest
from PIL import Image, ImageDraw

from productshot.cli.main import build_parser
from productshot.errors import ProductshotError
from productshot.settings import Settings
from productshot.store import AssetStore
from tests.support.mcp_client import error_text, memory_session, ok


def _rows(settings: Settings) -> tuple[int, int]:
    """(asset rows, lineage rows), read straight from the database file."""
    conn = sqlite3.connect(settings.db_path)
    try:
        assets = conn.execute("SELECT COUNT(*) FROM assets").fetchone()[0]
        edges = conn.execute("SELECT COUNT(*) FROM asset_parents").fetchone()[0]
    finally:
        conn.close()
    return int(assets), int(edges)


def _photos(folder: Path) -> tuple[Path, Path, Path]:
    """A background, a product photo, and a flat-colour 'product' the cutout refuses."""
    background = folder / "back.png"
    Image.new("RGB", (320, 240), (200, 210, 220)).save(background)
    product = folder / "mug.png"
    photo = Image.new("RGB", (160, 160), (240, 240, 236))
    ImageDraw.Draw(photo).ellipse((40, 30, 120, 140), fill=(150, 40, 30))
    photo.save(product)
    flat = folder / "flat.png"
    Image.new("RGB", (160, 160), (90, 90, 90)).save(flat)
    return background, product, flat


def _cutout(folder: Path) -> Path:
    path = folder / "cut.png"
    cut = Image.new("RGBA", (120, 140), (0, 0, 0, 0))
    ImageDraw.Draw(cut).ellipse((10, 10, 110, 130), fill=(150, 40, 30, 255))
    cut.save(path)
    return path


def _cli(settings: Settings, *argv: str) -> None:
    args = build_parser().parse_args(list(argv))
    args.handler(args, settings)


def test_failed_cli_calls_leave_no_row(tmp_path: Path, settings: Settings) -> None:
    background, product, flat = _photos(tmp_path)
    cut = str(_cutout(tmp_path))  # an RGBA product needs no cutout model, which keeps this test quick
    out = str(tmp_path / "out.png")
    with AssetStore.open(settings):
        pass  # the database exists, empty
    failing = [
        ("composite", str(background), cut, "--scale", "0", "-o", out),
        ("composite", str(background), cut, "--margin", "-5", "-o", out),
        ("composite", str(background), cut, "--position", "x=5000px,y=100px", "-o", out),
        ("composite", str(background), cut, "-o", "/proc/x.png"),
        ("composite", str(background), str(flat), "-o", out),
        ("cutout", str(product), "--model", "no-such-model", "-o", out),
        ("cutout", str(flat), "-o", out),
        ("cutout", cut, "-o", "/proc/x.png"),
        ("backdrop", "simple beach", "-o", "/proc/x.png"),
    ]
    for argv in failing:
        before = _rows(settings)
        with pytest.raises(ProductshotError):
            _cli(settings, *argv)
        assert _rows(settings) == before, argv
    assert not Path(out).exists()
    _cli(settings, "composite", str(background), str(product), "-o", out)
    assert _rows(settings) == (4, 3)  # background, photo, cutout, result; cutout<-photo, result<-both


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_failed_mcp_calls_leave_no_row(tmp_path: Path, settings: Settings) -> None:
    background, product, flat = _photos(tmp_path)
    cut = _cutout(tmp_path)
    calls = [
        ("composite", {"background": str(background), "product": str(cut), "position": "x=5000px,y=1px"}),
        ("composite", {"background": str(background), "product": str(flat)}),
        ("composite", {"background": _b64(background), "product": _b64(cut), "position": "nowhere at all"}),
        ("composite", {"background": str(background), "product": str(cut), "save_to": "/proc/x.png"}),
        ("remove_background", {"image": str(flat)}),
        ("remove_background", {"image": str(product), "model": "no-such-cutter"}),
        ("place_product", {"request": "on a beach", "image": str(product), "model": "no-such-model"}),
        ("place_product", {"request": "on a beach", "image": str(flat), "model": "studio"}),
        ("place_product", {"request": "on a beach", "image": str(product), "position": "x=9,y=9"}),
    ]

    async def scenario() -> None:
        async with memory_session(settings) as client:
            for tool, arguments in calls:
                before = _rows(settings)
                error_text(await client.call_tool(tool, arguments))
                assert _rows(settings) == before, (tool, arguments)
            made = ok(
                await client.call_tool("composite", {"background": str(background), "product": str(cut)})
            )
            assert made["asset_id"]

    anyio.run(scenario)
    assert _rows(settings)[0] == 3  # background, product (stored as given) and the result


def test_a_batch_writes_all_its_rows_or_none(settings: Settings) -> None:
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    with AssetStore.open(settings) as store:
        with pytest.raises(RuntimeError), store.batch():
            first = store.put_image(image, kind="input", backend="t")
            store.put_image(image, kind="cutout", parents=[first.id], backend="t")
            raise RuntimeError("a later step failed")
        assert store.list() == []
        with store.batch():
            first = store.put_image(image, kind="input", backend="t")
            second = store.put_image(image, kind="cutout", parents=[first.id], backend="t")
            assert not store.exists(first.id)  # nothing is visible before the batch ends
        assert [a.id for a in store.lineage(second.id)] == [second.id, first.id]


def test_follow_up_on_a_result_made_by_the_composite_command(tmp_path: Path, settings: Settings) -> None:
    background, product, _ = _photos(tmp_path)
    out = tmp_path / "shot.png"
    _cli(settings, "composite", str(background), str(product), "-o", str(out))
    with AssetStore.open(settings) as store:
        [result] = store.list(kind="result")

    async def scenario() -> dict[str, object]:
        async with memory_session(settings) as client:
            return ok(
                await client.call_tool(
                    "place_product", {"request": "move it to the left", "previous": result.id}
                )
            )

    moved = anyio.run(scenario)
    assert moved["bbox"][0] < result.params["bbox"][0]  # type: ignore[index]
    assert set(moved["reused"]) == {"cutout", "background"}  # type: ignore[arg-type]
