"""Bad input through MCP: each a tool error with a clear message, and the server keeps serving."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import anyio
import numpy as np
import pytest
from PIL import Image

from productshot.settings import Settings
from tests.support.mcp_client import error_text, memory_session, ok

COFFEE = "sample:coffee"
QUIET_CASES = frozenset(
    {"path outside", "symlink escape", "dotdot trick", "missing file", "system file", "model folder outside"}
)


def _bad_calls(tmp_path: Path, outside: Path) -> list[tuple[str, str, dict[str, object], tuple[str, ...]]]:
    """(case, tool, arguments, phrases the error must contain)."""
    link = tmp_path / "looks-local.png"
    os.symlink(outside, link)
    dotdot = f"{tmp_path}/../{outside.parent.name}/{outside.name}"
    not_image = base64.b64encode(b"GIF89a? no, just a grocery list: milk, eggs, flour. " * 8).decode()
    noisy = io.BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(
        noisy, "PNG"
    )
    too_big = base64.b64encode(noisy.getvalue()).decode()  # ~120 KB; the cap below is 50 KB
    request = "put this cup on a simple beach scene"
    return [
        (
            "wrong type",
            "composite",
            {"background": COFFEE, "product": COFFEE, "scale": "big"},
            ("scale", "valid number"),
        ),
        (
            "wrong type",
            "place_product",
            {"request": request, "image": COFFEE, "width": "wide"},
            ("width", "integer"),
        ),
        ("wrong type", "check_split", {"image": 42}, ("image", "valid string")),
        ("missing argument", "place_product", {"image": COFFEE}, ("request", "Field required")),
        ("missing argument", "composite", {"background": COFFEE}, ("product", "Field required")),
        (
            "out of range",
            "generate_background",
            {"prompt": "beach", "width": 10},
            ("width", "greater than or equal to 64"),
        ),
        (
            "unknown asset",
            "composite",
            {"background": "a0000000000000000", "product": COFFEE},
            ("background: no asset 'a0000000000000000'",),
        ),
        (
            "unknown previous",
            "place_product",
            {"request": "bigger", "previous": "a0000000000000000"},
            ("previous: no asset",),
        ),
        (
            "neither image nor previous",
            "place_product",
            {"request": request},
            ("image: give the product photo",),
        ),
        (
            "path outside",
            "remove_background",
            {"image": str(outside)},
            ("image:", "not a file inside the allowed folders"),
        ),
        (
            "symlink escape",
            "remove_background",
            {"image": str(link)},
            ("not a file inside the allowed folders",),
        ),
        ("dotdot trick", "check_split", {"image": dotdot}, ("not a file inside the allowed folders",)),
        (
            "missing file",
            "check_split",
            {"image": str(tmp_path / "nope.png")},
            ("not a file inside the allowed folders",),
        ),
        (
            "system file",
            "check_split",
            {"image": "../../../../../../../etc/shadow"},
            ("not a file inside the allowed folders",),
        ),
        (
            "base64 not an image",
            "check_split",
            {"image": not_image},
            ("image: the base64 data", "not a usable image"),
        ),
        (
            "over the size cap",
            "check_split",
            {"image": too_big},
            ("over the 49 KB limit", "PRODUCTSHOT_MAX_UPLOAD_BYTES"),
        ),
        (
            "unknown sample",
            "remove_background",
            {"image": "sample:teapot"},
            ("unknown sample 'teapot'", "coffee"),
        ),
        (
            "position off canvas",
            "composite",
            {"background": COFFEE, "product": COFFEE, "position": "x=5000px,y=100px"},
            ("off the 600x400 canvas",),
        ),
        (
            "position off canvas",
            "place_product",
            {"request": request, "image": COFFEE, "position": "x=1.5,y=0.5"},
            ("off the canvas",),
        ),
        (
            "position nonsense",
            "write_prompt",
            {"request": "beach", "position": "somewhere nice"},
            ("position 'somewhere nice' not understood",),
        ),
        (
            "unknown model",
            "generate_background",
            {"prompt": "beach", "model": "no-such-model"},
            ("no-such-model",),
        ),
        (
            "unknown model",
            "place_product",
            {"request": request, "image": COFFEE, "model": "no-such-model"},
            ("no-such-model",),
        ),
        *[
            (
                "model folder outside",
                tool,
                {**arguments, "model": folder},
                ("must be inside the allowed folders or the model cache",),
            )
            for folder in ("/etc", str(outside.parent), str(outside), "/no/such/folder", "../../../etc")
            for tool, arguments in (
                ("generate_background", {"prompt": "beach"}),
                ("place_product", {"request": request, "image": COFFEE}),
            )
        ],
        (
            "unknown cutout model",
            "remove_background",
            {"image": COFFEE, "model": "no-such-cutter"},
            ("no-such-cutter",),
        ),
        (
            "save_to outside",
            "composite",
            {"background": COFFEE, "product": COFFEE, "save_to": str(outside.parent / "x.png")},
            ("save_to", "outside the allowed folders"),
        ),
        (
            "save_to existing",
            "composite",
            {"background": COFFEE, "product": COFFEE, "save_to": str(tmp_path / "keep.png")},
            ("already exists",),
        ),
        ("unknown tool", "paint_it_black", {}, ("Unknown tool",)),
    ]


def test_bad_input_is_a_clear_tool_error_and_the_server_keeps_serving(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> None:
    outside_dir = tmp_path_factory.mktemp("not-allowed")
    outside = outside_dir / "private.png"
    Image.new("RGB", (50, 50), (9, 9, 9)).save(outside)
    keep = tmp_path / "keep.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(keep)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (outside, keep)}
    capped = settings.with_overrides(max_upload_bytes=50_000)
    cases = _bad_calls(tmp_path, outside)

    async def scenario() -> list[str]:
        failures = []
        async with memory_session(capped) as client:
            for case, tool, arguments, phrases in cases:
                message = error_text(await client.call_tool(tool, arguments))
                missing = [p for p in phrases if p not in message]
                if missing:
                    failures.append(f"{case} ({tool}): {missing} not in {message!r}")
                if case in QUIET_CASES:  # nothing about what lies outside the allowed folders
                    told = [
                        word
                        for word in ("resolved", "does not exist", "diffusers", "is a file")
                        if word in message
                    ]
                    if told or "shadow" in message.replace("../etc/shadow", ""):
                        failures.append(f"{case} ({tool}) tells too much: {message!r}")
                # ...and the server still serves the next call.
                assert ok(await client.call_tool("check_split", {"image": COFFEE}))["split"] in (True, False)
        return failures

    assert anyio.run(scenario) == []
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (outside, keep)} == before
    assert sorted(p.name for p in outside_dir.iterdir()) == ["private.png"]  # nothing written outside
