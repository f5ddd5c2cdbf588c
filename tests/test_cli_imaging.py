"""The image commands through real `productshot` processes: JSON keys, files on disk, clear errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.imagegen import make_product


def ps(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productshot", *args], env=env, capture_output=True, text=True, timeout=240
    )


def ok_json(env: dict[str, str], *args: str) -> dict:
    proc = ps(env, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert "backend" in payload and "seconds" in payload
    return payload


def opened(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.copy()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cutout(tmp_path: Path) -> Path:
    path = tmp_path / "cut.png"
    make_product((240, 360), kind="bottle").save(path)
    return path


def test_backdrop_then_composite_then_check_split(cli_env, tmp_path: Path, cutout: Path) -> None:
    bg = tmp_path / "bg.png"
    back = ok_json(
        cli_env, "backdrop", "simple beach", "-W", "800", "-H", "600", "--seed", "7", "-o", str(bg)
    )
    assert back["seed"] == 7 and back["backend"] == "studio" and Path(back["path"]) == bg.resolve()
    assert opened(bg).size == (800, 600)

    before = digest(cutout), digest(bg)
    out = tmp_path / "shot.png"
    comp = ok_json(cli_env, "composite", str(bg), str(cutout), "--position", "왼쪽 아래", "-o", str(out))
    assert comp["position"] == "bottom-left" and comp["backend"] == "composite"
    x0, y0, x1, y1 = comp["bbox"]
    assert x0 < 800 * 0.1 and y1 > 600 * 0.9
    assert max(x1 - x0, y1 - y0) >= 0.4 * 600
    assert (digest(cutout), digest(bg)) == before
    assert opened(out).size == (800, 600)

    split = ok_json(cli_env, "check-split", str(bg))
    assert split["split"] is False and "score" in split and "seam_y" in split

    listed = ok_json(cli_env, "store", "list", "--kind", "result")
    assert listed["count"] == 1


def test_composite_places_exactly_where_asked_and_says_when_nothing_carries_it(
    cli_env, tmp_path: Path, cutout: Path
) -> None:
    """The low-level command never moves the product: over the sky it notes the missing surface; on the
    ground it stands and its shadows follow --light; --no-harmonize is recorded."""
    field = Image.new("RGB", (800, 600), (150, 190, 235))
    field.paste((110, 140, 70), (0, 380, 800, 600))
    bg = tmp_path / "field.png"
    field.save(bg)
    high = ok_json(
        cli_env, "composite", str(bg), str(cutout), "--position", "top", "-o", str(tmp_path / "a.png")
    )
    assert high["position"] == "top" and high["grounded"] is False
    assert any(note["code"] == "composition_no_surface" for note in high["notes"])
    low = ok_json(
        cli_env,
        "composite",
        str(bg),
        str(cutout),
        "--position",
        "bottom-left",
        "--light",
        "right",
        "--no-harmonize",
        "-o",
        str(tmp_path / "b.png"),
    )
    assert low["grounded"] is True and low["light"] == {"azimuth": 90.0, "elevation": 42.0}
    assert not any(note["code"] == "composition_no_surface" for note in low["notes"])
    afloat = ok_json(
        cli_env,
        "composite",
        str(bg),
        str(cutout),
        "--position",
        "top",
        "--floating",
        "-o",
        str(tmp_path / "c.png"),
    )
    codes = [note["code"] for note in afloat["notes"]]
    assert "composition_floating" in codes and "composition_no_surface" not in codes
    assert afloat["position"] == "top" and afloat["bbox"] == high["bbox"]
    stored = ok_json(cli_env, "store", "show", afloat["asset_id"])
    assert stored["asset"]["params"]["floating"] is True  # a follow-up on it keeps the product afloat
    assert (high["shadow"], afloat["shadow"], low["shadow"]) == (False, False, True)
    # The text output carries the notes too, in words.
    text = ps(cli_env, "composite", str(bg), str(cutout), "--position", "top", "-o", str(tmp_path / "d.png"))
    assert text.returncode == 0 and "note:" in text.stdout and "No surface of the background" in text.stdout


def test_cutout_of_sample_photo(cli_env, tmp_path: Path) -> None:
    out = tmp_path / "coffee-cut.png"
    payload = ok_json(cli_env, "cutout", "sample:coffee", "-o", str(out))
    assert payload["backend"] == "u2netp"
    assert payload["confidence"] >= 0.5 and not any(
        n["code"].startswith("cutout_doubtful") for n in payload["notes"]
    )
    image = opened(out)
    assert image.mode == "RGBA"
    x0, y0, x1, y1 = payload["bbox"]
    assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height


def test_cutout_of_a_cluttered_photo_says_it_may_be_unreliable(cli_env, tmp_path: Path) -> None:
    out = tmp_path / "rocket-cut.png"
    payload = ok_json(cli_env, "cutout", "sample:rocket", "-o", str(out))
    assert payload["confidence"] < 0.5
    assert any(
        n["code"].startswith("cutout_doubtful") and "may be unreliable" in n["text"] for n in payload["notes"]
    )
    proc = ps(cli_env, "cutout", "sample:rocket", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "confidence 0." in text and "note: The cutout may be unreliable" in text


def test_composite_with_a_plain_photo_cuts_it_out_first(cli_env, tmp_path: Path) -> None:
    bg = tmp_path / "bg.png"
    ok_json(cli_env, "backdrop", "white marble", "-o", str(bg), "--seed", "1")
    payload = ok_json(
        cli_env,
        "composite",
        str(bg),
        "sample:coffee",
        "--position",
        "x=0.5,y=0.9",
        "-o",
        str(tmp_path / "o.png"),
    )
    assert [s["name"] for s in payload["steps"]] == ["cutout", "composite"]
    assert payload["steps"][0]["backend"] == "u2netp"
    x0, _, x1, y1 = payload["bbox"]
    assert abs((x0 + x1) / 2 - 512) <= 2 and abs(y1 - 0.9 * 768) <= 2


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t, c: ["composite", str(t / "missing.png"), str(c), "-o", str(t / "o.png")], "missing.png"),
        (
            lambda t, c: [
                "composite",
                str(c),
                str(c),
                "--position",
                "somewhere nice",
                "-o",
                str(t / "o.png"),
            ],
            "position",
        ),
        (
            lambda t, c: ["composite", str(c), str(c), "--position", "x=1.5,y=0.5", "-o", str(t / "o.png")],
            "off the canvas",
        ),
        (lambda t, c: ["composite", str(c), str(c), "--scale", "0", "-o", str(t / "o.png")], "scale"),
        (lambda t, c: ["composite", str(c), str(c), "--scale", "4.5", "-o", str(t / "o.png")], "scale"),
        (lambda t, c: ["backdrop", "beach", "-W", "0", "-o", str(t / "o.png")], "width"),
        (lambda t, c: ["cutout", str(t / "empty.png"), "-o", str(t / "o.png")], "empty.png"),
        (lambda t, c: ["cutout", str(c), "-o", str(c)], "overwrite"),
        (lambda t, c: ["cutout", str(c), "-o", str(t / "o.txt")], ".png"),
        (lambda t, c: ["cutout", "sample:nope", "-o", str(t / "o.png")], "nope"),
        (lambda t, c: ["cutout", str(c), "--model", "bogus", "-o", str(t / "o.png")], "bogus"),
    ],
)
def test_bad_input_is_one_line_error_and_nothing_written(
    cli_env, tmp_path: Path, cutout: Path, make_args, message
) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    before = digest(cutout)
    proc = ps(cli_env, *make_args(tmp_path, cutout))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("productshot: error:") and message in lines[0], proc.stderr
    assert not (tmp_path / "o.png").exists()
    assert digest(cutout) == before


def test_composite_does_not_import_heavy_libraries(cli_env, tmp_path: Path, cutout: Path) -> None:
    bg = tmp_path / "bg.png"
    Image.new("RGB", (640, 480), (200, 200, 200)).save(bg)
    argv = ["productshot", "composite", str(bg), str(cutout), "-o", str(tmp_path / "o.png")]
    code = (
        f"import sys; sys.argv={argv!r};"
        "from productshot.cli.main import main; rc=main();"
        "heavy=[m for m in ('torch','diffusers','rembg','onnxruntime','transformers') if m in sys.modules];"
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
