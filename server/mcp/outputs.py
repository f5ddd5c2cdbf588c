"""Tool results the way MCP clients can use them: a small preview, text, structured JSON, resource links.

Claude Desktop rejects a tool result over 1 MiB, so the preview (long side at most 1024 px) is encoded to
fit the room the rest of the result leaves: PNG when the image has transparency (a cutout), JPEG otherwise,
stepping down quality and then size until the whole serialized result is under the limit.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent
from PIL import Image
from pydantic import AnyUrl, BaseModel

from productshot.server.mcp.schemas import resource_uri
from productshot.store import Asset

PREVIEW_LONG_SIDE = 1024
RESULT_LIMIT_BYTES = 1024 * 1024
# Room kept free for the JSON-RPC envelope (id, jsonrpc, result wrapper) and serialisation differences.
_ENVELOPE_BYTES = 4 * 1024
_JPEG_QUALITIES = (88, 80, 70, 60)
_SHRINK = 0.9  # at least this much smaller per try
_MIN_LONG_SIDE = 128


@dataclass(frozen=True)
class Preview:
    """An encoded preview of an image: its bytes, MIME type and size in px."""

    data: bytes
    mime: str
    width: int
    height: int


def encode_preview(image: Image.Image, max_bytes: int, *, long_side: int = PREVIEW_LONG_SIDE) -> Preview:
    """The largest preview (long side <= `long_side`) whose encoded bytes fit in `max_bytes`.

    Images with transparency stay PNG (a cutout must show its alpha); others become JPEG. Raises
    ValueError when even a 128 px preview does not fit, which only a tiny budget can cause.
    """
    keep_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    base = _fit(image, long_side).convert("RGBA" if keep_alpha else "RGB")
    scaled = base
    while True:
        if keep_alpha:
            data = _encode(scaled, "PNG")
            if len(data) <= max_bytes:
                return Preview(data, "image/png", scaled.width, scaled.height)
        else:
            for quality in _JPEG_QUALITIES:
                data = _encode(scaled, "JPEG", quality=quality)
                if len(data) <= max_bytes:
                    return Preview(data, "image/jpeg", scaled.width, scaled.height)
        # Encoded size grows with the pixel count: shrink by the square root of the overshoot (a bit more).
        side = int(max(scaled.size) * min(_SHRINK, 0.95 * math.sqrt(max_bytes / len(data))))
        if side < _MIN_LONG_SIDE:
            raise ValueError(f"no preview of at least {_MIN_LONG_SIDE} px fits in {max_bytes} bytes")
        scaled = _fit(base, side)


def image_result(
    image: Image.Image,
    structured: BaseModel,
    *,
    summary: str,
    links: Sequence[Asset] = (),
    limit: int = RESULT_LIMIT_BYTES,
) -> CallToolResult:
    """A tool result with the image's preview, a text summary plus the JSON, and links to the assets."""
    parts = _Parts.of(structured, summary, links, limit)
    if parts.room <= 0:
        raise ValueError(f"the result's text alone is {parts.fixed_size} bytes, over the {limit} byte limit")
    return parts.with_preview(encode_preview(image, parts.room * 3 // 4))


# The most a preview made before its result's text is known may take: the text of a result is a few KB, so
# 64 KB of room for it is plenty (`preview_result` checks, and the caller falls back to `image_result`).
PREVIEW_BUDGET_BYTES = (RESULT_LIMIT_BYTES - _ENVELOPE_BYTES - 64 * 1024) * 3 // 4


def preview_result(
    preview: Preview,
    structured: BaseModel,
    *,
    summary: str,
    links: Sequence[Asset] = (),
    limit: int = RESULT_LIMIT_BYTES,
) -> CallToolResult | None:
    """`image_result` with a preview encoded earlier (in a pixel process, within PREVIEW_BUDGET_BYTES);
    None when it does not fit beside this result's text after all (then use `image_result`)."""
    parts = _Parts.of(structured, summary, links, limit)
    if len(preview.data) > parts.room * 3 // 4:
        return None
    return parts.with_preview(preview)


@dataclass(frozen=True)
class _Parts:
    """A result's text, JSON and links, and the room (JSON bytes) left for its preview."""

    payload: dict[str, Any]
    text: TextContent
    links: list[ResourceLink]
    fixed_size: int
    room: int

    @staticmethod
    def of(structured: BaseModel, summary: str, links: Sequence[Asset], limit: int) -> _Parts:
        payload = structured.model_dump(mode="json")
        text = TextContent(type="text", text=_text(summary, payload))
        link_blocks = [_link(asset) for asset in links]
        fixed = CallToolResult(content=[text, *link_blocks], structuredContent=payload)
        fixed_size = len(fixed.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))
        room = (
            limit - fixed_size - _ENVELOPE_BYTES - len('{"type":"image","data":"","mimeType":"image/jpeg"},')
        )
        return _Parts(payload, text, link_blocks, fixed_size, room)

    def with_preview(self, preview: Preview) -> CallToolResult:
        picture = ImageContent(
            type="image", data=base64.b64encode(preview.data).decode("ascii"), mimeType=preview.mime
        )
        return CallToolResult(content=[picture, self.text, *self.links], structuredContent=self.payload)


def text_result(structured: BaseModel, *, summary: str) -> CallToolResult:
    """A tool result without an image: the summary plus the JSON as text, and the structured content."""
    payload = structured.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=_text(summary, payload))], structuredContent=payload
    )


def _text(summary: str, payload: dict[str, object]) -> str:
    # MCP asks servers to repeat structured content as JSON text for clients that only read text.
    return summary.rstrip() + "\n" + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _link(asset: Asset) -> ResourceLink:
    return ResourceLink(
        type="resource_link",
        uri=AnyUrl(resource_uri(asset.id)),
        name=f"{asset.kind} {asset.id}",
        description=f"full-resolution {asset.kind}, {asset.width}x{asset.height} {asset.format}",
        mimeType=asset.mime,
        size=asset.size_bytes,
    )


def _fit(image: Image.Image, long_side: int) -> Image.Image:
    if max(image.size) <= long_side:
        return image
    ratio = long_side / max(image.size)
    size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(image: Image.Image, fmt: str, *, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        # No `optimize`: its second Huffman pass more than doubles the encode (which holds the GIL) for
        # files ~3% smaller.
        image.save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


__all__ = [
    "PREVIEW_BUDGET_BYTES",
    "PREVIEW_LONG_SIDE",
    "RESULT_LIMIT_BYTES",
    "Preview",
    "encode_preview",
    "image_result",
    "preview_result",
    "text_result",
]
