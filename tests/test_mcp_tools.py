"""Every MCP tool through a real client session, in memory: schemas, results, files, resources, progress."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import BlobResourceContents
from PIL import Image, ImageDraw
from pydantic import AnyUrl

from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.studio import scene_families
from tests.support.mcp_client import ProgressLog, image_of, links_of, memory_session, ok, text_of

# The contract's argument names (architecture page), per tool.
CONTRACT_INPUTS: dict[str, set[str]] = {
    "write_prompt": {"request", "product_facts", "position"},
    "generate_background": {
        "prompt",
        "negative_prompt",
        "width",
        "height",
        "seed",
        "model",
        "steps",
        "guidance",
        "save_to",
    },
    "remove_background": {"image", "model", "alpha_matting", "save_to"},
    "composite": {"background", "product", "position", "scale", "margin", "shadow", "save_to"},
    "check_split": {"image"},
    "place_product": {"image", "request", "previous", "width", "height", "seed", "model", "save_to"},
    "list_models": set(),
    "make_listing_image": {"image", "preset", "request", "save_to"},
    "check_listing": {"image", "preset"},
    "list_scenes": set(),
}
CONTRACT_OUTPUTS: dict[str, set[str]] = {
    "write_prompt": {"prompt", "negative_prompt", "template_version"},
    "generate_background": {"asset_id", "path", "resource_uri", "seed"},
    "remove_background": {"asset_id", "path", "resource_uri", "bbox"},
    "composite": {"asset_id", "path", "resource_uri", "bbox", "position", "scale", "parents"},
    "check_split": {"split", "score", "seam_y"},
    "place_product": {"asset_id", "path", "resource_uri", "bbox", "steps", "position", "scale", "reused"},
    "list_models": {"generators", "cutout_models"},
    "make_listing_image": {"asset_id", "path", "resource_uri", "preset", "ok", "rules", "needs_review"},
    "check_listing": {"ok", "preset", "rules"},
    "list_scenes": {"families", "unpainted_scenes", "styles", "colours"},
}


def _run(scenario: Any) -> Any:
    return anyio.run(scenario)


def _in_region(bbox: list[int], size: tuple[int, int], horizontal: str, vertical: str) -> None:
    """Assert the bbox's centre lies in the named third/half of the canvas."""
    width, height = size
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    checks = {"left": cx < width / 2, "right": cx > width / 2, "center": abs(cx - width / 2) < width / 8}
    assert checks[horizontal], f"bbox {bbox} is not {horizontal} on {size}"
    if vertical == "bottom":
        assert cy > height / 2 and bbox[3] > height * 0.85, (
            f"bbox {bbox} does not stand at the bottom of {size}"
        )


def test_tools_list_shows_the_eight_contracts_with_schemas(settings: Settings) -> None:
    async def scenario() -> None:
        async with memory_session(settings) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == set(CONTRACT_INPUTS)
            for name, tool in tools.items():
                properties = set(tool.inputSchema.get("properties", {}))
                assert CONTRACT_INPUTS[name] <= properties, (name, properties)
                assert tool.description and len(tool.description) > 40
                assert tool.outputSchema is not None, name
                out = set(tool.outputSchema["properties"])
                assert CONTRACT_OUTPUTS[name] | {"backend", "seconds"} <= out, (name, out)
                for prop, schema in tool.inputSchema.get("properties", {}).items():
                    assert schema.get("description"), f"{name}.{prop} has no description"
            position = tools["composite"].inputSchema["properties"]["position"]["description"]
            for form in ("bottom-left", "왼쪽 아래", "x=0.3,y=0.8", "x=300px,y=620px"):
                assert form in position
            place = tools["place_product"].inputSchema
            assert place["required"] == ["request"]
            assert place["properties"]["width"]["anyOf"][0]["maximum"] == 4096

    _run(scenario)


def test_step_tools_chain_into_a_shot_with_files_and_resources(tmp_path: Path, settings: Settings) -> None:
    save_to = tmp_path / "out" / "mug-on-beach.png"

    async def scenario() -> None:
        async with memory_session(settings) as client:
            cut = await client.call_tool("remove_background", {"image": "sample:coffee"})
            cutout = ok(cut)
            assert cutout["backend"] == "u2netp" and cutout["model"] == "u2netp"
            assert cutout["confidence"] >= 0.5 and cutout["notes"] == []  # a clean photo: no warning
            x0, y0, x1, y1 = cutout["bbox"]
            assert 0 <= x0 < x1 <= 600 and 0 <= y0 < y1 <= 400 and (x1 - x0) * (y1 - y0) > 0.15 * 600 * 400
            preview = image_of(cut)
            assert preview.mode == "RGBA" and preview.size == (600, 400)
            assert preview.getchannel("A").getextrema()[0] == 0  # the old background is transparent

            spec = ok(
                await client.call_tool(
                    "write_prompt",
                    {
                        "request": "a simple sandy beach at golden hour",
                        "product_facts": {"name": "coffee cup", "colours": ["white"], "material": "ceramic"},
                        "position": "bottom-left",
                    },
                )
            )
            assert "beach" in spec["prompt"].lower() and spec["negative_prompt"] and spec["template_version"]

            progress = ProgressLog()
            made = await client.call_tool(
                "generate_background",
                {"prompt": spec["prompt"], "width": 640, "height": 480, "seed": 5, "model": "studio"},
                progress_callback=progress,
            )
            background = ok(made)
            assert (background["width"], background["height"], background["seed"]) == (640, 480, 5)
            assert background["backend"] == "studio" and image_of(made).size == (640, 480)

            split = ok(await client.call_tool("check_split", {"image": background["asset_id"]}))
            assert (
                split["split"] is False
                and split["seam_y"] is None
                and split["image_id"] == background["asset_id"]
            )

            shot = await client.call_tool(
                "composite",
                {
                    "background": background["asset_id"],
                    "product": f"productshot://assets/{cutout['asset_id']}",
                    "position": "bottom-left",
                    "scale": 0.5,
                    "save_to": str(save_to),
                },
            )
            placed = ok(shot)
            assert placed["position"] == "bottom-left" and placed["scale"] == pytest.approx(0.5, abs=0.01)
            assert placed["parents"] == [background["asset_id"], cutout["asset_id"]]
            _in_region(placed["bbox"], (640, 480), "left", "bottom")
            assert placed["saved_to"] == str(save_to.resolve())
            with Image.open(save_to) as written:
                assert written.size == (640, 480)
            assert links_of(shot) == [placed["resource_uri"]]
            assert placed["asset_id"] in text_of(shot) and placed["path"] in text_of(shot)

            # Floating on purpose: placed where asked, no surface looked for, no shadow.
            afloat = ok(
                await client.call_tool(
                    "composite",
                    {
                        "background": background["asset_id"],
                        "product": cutout["asset_id"],
                        "position": "top",
                        "floating": True,
                    },
                )
            )
            codes = [n["code"] for n in afloat["notes"]]
            assert afloat["shadow"] is False and afloat["grounded"] is None and afloat["position"] == "top"
            assert "composition_floating" in codes and "composition_no_surface" not in codes

            # Full resolution through the resource, and the newest assets listed.
            listed = [str(r.uri) for r in (await client.list_resources()).resources]
            assert placed["resource_uri"] in listed and f"productshot://assets/{cutout['asset_id']}" in listed
            read = await client.read_resource(AnyUrl(placed["resource_uri"]))
            blob = read.contents[0]
            assert isinstance(blob, BlobResourceContents) and blob.mimeType == "image/png"
            assert Path(placed["path"]).read_bytes() == base64.b64decode(blob.blob)
            templates = (await client.list_resource_templates()).resourceTemplates
            assert [t.uriTemplate for t in templates] == ["productshot://assets/{asset_id}"]

            # A follow-up on a composite result, through place_product: the product moves right.
            moved = ok(
                await client.call_tool(
                    "place_product",
                    {"request": "move it a little to the right", "previous": placed["asset_id"]},
                )
            )
            assert moved["bbox"][0] > placed["bbox"][0] and moved["bbox"][3] == placed["bbox"][3]
            assert set(moved["reused"]) == {"cutout", "background"}
            assert moved["background_id"] == background["asset_id"]

    _run(scenario)


def test_place_product_runs_the_pipeline_with_progress_and_follow_ups(settings: Settings) -> None:
    async def scenario() -> None:
        async with memory_session(settings) as client:
            progress = ProgressLog()
            first = await client.call_tool(
                "place_product",
                {
                    "image": "sample:coffee",
                    "request": "put this cup on a simple beach scene, bottom-left",
                    "width": 800,
                    "height": 600,
                    "seed": 11,
                },
                progress_callback=progress,
            )
            shot = ok(first)
            names = [step["name"] for step in shot["steps"]]
            assert names[0] == "plan" and names[-1] == "composite"
            assert {"cutout", "prompt", "generate", "check_split"} <= set(names)
            assert all(step["backend"] and step["seconds"] >= 0 for step in shot["steps"])
            assert shot["scene"].startswith("beach") and shot["position"] == "bottom-left"
            _in_region(shot["bbox"], (800, 600), "left", "bottom")
            assert image_of(first).size == (800, 600)
            values = [value for value, _, _ in progress.events]
            assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing
            assert any(m.startswith("cutout:") for m in progress.messages)
            assert any(m.startswith("generate:") for m in progress.messages)

            bigger = ok(
                await client.call_tool("place_product", {"request": "bigger", "previous": shot["asset_id"]})
            )
            assert bigger["scale"] > shot["scale"] and set(bigger["reused"]) == {"cutout", "background"}
            width = lambda b: b[2] - b[0]  # noqa: E731
            assert width(bigger["bbox"]) > width(shot["bbox"])

            korean = ok(
                await client.call_tool(
                    "place_product", {"request": "오른쪽 아래로 옮겨 줘", "previous": bigger["asset_id"]}
                )
            )
            _in_region(korean["bbox"], (800, 600), "right", "bottom")

        with AssetStore.open(settings) as store:
            result = store.get(korean["asset_id"])
            assert result.kind == "result" and (result.width, result.height) == (800, 600)
            assert shot["background_id"] in result.parents

    _run(scenario)


def test_list_models_reports_generators_cutouts_and_the_worker(settings: Settings) -> None:
    async def scenario() -> None:
        async with memory_session(settings) as client:
            result = await client.call_tool("list_models", {})
            models = ok(result)
            names = {g["name"] for g in models["generators"]}
            assert {"studio", "sdxl-turbo"} <= names
            cutouts = {c["name"]: c for c in models["cutout_models"]}
            assert cutouts["u2netp"]["available"] is True
            assert models["auto_generator"] == "studio" and "studio" in models["auto_reason"]
            assert models["worker"]["running"] is False and models["worker"]["url"] == settings.worker_url
            assert "studio" in text_of(result)

    _run(scenario)


def test_list_scenes_gives_every_family_with_english_and_korean_words(settings: Settings) -> None:
    async def scenario() -> None:
        async with memory_session(settings) as client:
            result = await client.call_tool("list_scenes", {})
            scenes = ok(result)
            families = {f["name"]: f for f in scenes["families"]}
            assert set(families) == set(scene_families())
            for family in families.values():
                assert family["en"] and family["ko"] and family["label_ko"], family
            assert "해변" in families["beach"]["ko"] and families["beach"]["label_ko"] == "해변"
            assert "ice" in {s["name"] for s in scenes["unpainted_scenes"]}
            assert {"sunset", "minimal"} <= {s["name"] for s in scenes["styles"]}
            assert scenes["notes"] == [] and "beach (해변)" in text_of(result)

    _run(scenario)


def test_generate_background_names_the_family_it_painted_and_notes_a_fallback(settings: Settings) -> None:
    async def scenario() -> None:
        async with memory_session(settings) as client:
            beach = ok(
                await client.call_tool(
                    "generate_background", {"prompt": "a calm beach", "width": 128, "height": 96}
                )
            )
            assert beach["scene"] == "beach" and beach["notes"] == []
            asked = {"prompt": "ice", "width": 128, "height": 96}
            under = ok(await client.call_tool("generate_background", asked))
            assert under["scene"] == "studio"
            assert [n["code"] for n in under["notes"]] == ["scene_fallback"]
            assert under["notes"][0]["params"]["asked"] == "ice" and "studio" in under["notes"][0]["text"]

    _run(scenario)


def test_a_first_call_during_the_launch_warm_up_waits_with_progress(settings: Settings) -> None:
    # A worker URL where something listens but never answers: the warm-up's worker probe takes its full
    # timeout (2 s), so the first call certainly arrives while the warm-up is still running.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        slow = settings.with_overrides(worker_url=f"http://127.0.0.1:{silent.getsockname()[1]}")

        async def scenario() -> list[str]:
            async with memory_session(slow, warm_up=True) as client:
                progress = ProgressLog()
                result = await client.call_tool(
                    "remove_background", {"image": "sample:coffee"}, progress_callback=progress
                )
                assert ok(result)["backend"] == "u2netp"
                return progress.messages

        messages = anyio.run(scenario)
    assert messages[0].startswith("preparing the models (first call after launch")
    assert any(m.startswith("models: ready (local)") for m in messages), messages


def test_a_6000x4000_input_gives_a_result_under_1_mib(tmp_path: Path, settings: Settings) -> None:
    # A 24 MP studio photo: banded light and a round object (the preview budget under worst-case noise is
    # tested in test_mcp_outputs; this proves the whole tool path at that size).
    photo = Image.new("RGB", (6000, 4000), (236, 230, 220))
    draw = ImageDraw.Draw(photo)
    for band in range(12):
        draw.rectangle(
            (0, band * 333, 6000, band * 333 + 333), fill=(236 - band * 8, 230 - band * 6, 220 - band * 5)
        )
    draw.ellipse((600, 500, 2200, 2100), fill=(90, 140, 200))
    big = tmp_path / "big-background.jpg"
    photo.save(big, quality=92)
    product = tmp_path / "bottle.png"
    bottle = Image.new("RGBA", (300, 600), (0, 0, 0, 0))
    bottle.paste((30, 90, 160, 255), (60, 40, 240, 580))
    bottle.save(product)

    async def scenario() -> None:
        async with memory_session(settings) as client:
            result = await client.call_tool("composite", {"background": str(big), "product": str(product)})
            data = ok(result)
            assert (data["width"], data["height"]) == (6000, 4000)
            wire = (
                '{"jsonrpc":"2.0","id":1,"result":'
                + result.model_dump_json(by_alias=True, exclude_none=True)
                + "}"
            )
            assert len(wire.encode()) < 1024 * 1024
            preview = image_of(result)
            assert max(preview.size) <= 1024 and preview.size[0] / preview.size[1] == pytest.approx(
                1.5, abs=0.01
            )

    _run(scenario)
