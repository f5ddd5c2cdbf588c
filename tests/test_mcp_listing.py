"""make_listing_image and check_listing through a real MCP client session, in memory."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import anyio
from PIL import Image

from productshot.settings import Settings
from tests.support.imagegen import make_product
from tests.support.mcp_client import error_text, image_of, memory_session, ok


def _run(scenario: Any) -> Any:
    return anyio.run(scenario)


def test_make_listing_image_then_check_it(settings: Settings, tmp_path: Path) -> None:
    photo = tmp_path / "bottle.png"
    canvas = Image.new("RGBA", (500, 500), (0, 0, 0, 0))
    canvas.paste(make_product((160, 380), "bottle", (30, 80, 160)), (40, 60))
    canvas.save(photo)

    async def scenario() -> None:
        async with memory_session(settings) as client:
            made = await client.call_tool(
                "make_listing_image",
                {"image": str(photo), "preset": "coupang", "save_to": "bottle-coupang.jpg"},
            )
            out = ok(made)
            assert (
                out["ok"] is True
                and out["preset"] == "coupang"
                and (out["width"], out["height"]) == (1000, 1000)
            )
            assert {r["name"] for r in out["rules"]} >= {"white_background", "fill", "centred", "max_bytes"}
            assert out["backend"].startswith("input-alpha")
            saved = Path(out["saved_to"])
            assert saved.read_bytes() == Path(out["path"]).read_bytes()  # the exact JPEG, not a re-encode
            preview = image_of(made)
            assert preview.getpixel((2, 2)) == (255, 255, 255)

            checked = ok(
                await client.call_tool("check_listing", {"image": out["asset_id"], "preset": "coupang"})
            )
            assert checked["ok"] is True and checked["image_id"] == out["asset_id"]
            assert checked["measured_on"] == "pixels"

            # A PNG of the same pixels fails Amazon's JPEG rule; as base64 its own bytes are checked.
            buffer = io.BytesIO()
            Image.open(saved).save(buffer, format="PNG")
            data = base64.b64encode(buffer.getvalue()).decode()
            amazon = ok(await client.call_tool("check_listing", {"image": data, "preset": "amazon"}))
            failed = {r["name"] for r in amazon["rules"] if r["level"] == "required" and r["ok"] is False}
            assert amazon["ok"] is False and "format" in failed

            scene = ok(
                await client.call_tool(
                    "make_listing_image",
                    {"image": str(photo), "preset": "lifestyle", "request": "on white marble"},
                )
            )
            assert scene["ok"] is True and (scene["width"], scene["height"]) == (1200, 1200)
            assert scene["measured_on"] is not None and scene["upscale"] is None

            follow = await client.call_tool(
                "place_product", {"request": "bigger", "previous": out["asset_id"]}
            )
            assert follow.isError and "not a product shot made here" in error_text(follow)

            bad = await client.call_tool("make_listing_image", {"image": str(photo), "preset": "lifestyle"})
            assert bad.isError and "scene shot" in error_text(bad)
            unknown = await client.call_tool("check_listing", {"image": str(photo), "preset": "etsy"})
            assert unknown.isError and "valid presets" in error_text(unknown)

    _run(scenario)
