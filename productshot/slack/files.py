"""A Slack file, from `files.info` to a checked image on disk: type and size checked before a byte is fetched.

Slack serves a file's `url_private_download` only with the bot token (`Authorization: Bearer`); a token
without `files:read` gets Slack's HTML sign-in page with status 200, which is caught here by its type.
The token is only ever sent to Slack's file host or to the Web API's own origin (a proxy or a local
stand-in), never to any other URL a payload may carry. Downloads stream to a temp file and stop at the
size cap, so a file that grows past what files.info said cannot fill the disk.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from productshot.errors import BadImageError
from productshot.slack.errors import FileDownloadError, slack_error

# Image types the loader reads (tools.imageio), by Slack's mimetype; the suffix names the saved copy.
IMAGE_TYPES: Mapping[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/tiff": ".tiff",
    "image/bmp": ".bmp",
}
ACCEPTED_WORDS = "PNG, JPEG, WebP, HEIC, AVIF, GIF, TIFF or BMP"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 64 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SlackFile:
    """What files.info says about a file: id, name, type, size and the private download URL."""

    id: str
    name: str
    mimetype: str
    filetype: str
    size: int
    url: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SlackFile:
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or data.get("title") or data.get("id") or "file"),
            mimetype=str(data.get("mimetype") or "").lower(),
            filetype=str(data.get("filetype") or ""),
            size=int(data.get("size") or 0),
            url=str(data.get("url_private_download") or data.get("url_private") or "") or None,
        )

    @property
    def is_image(self) -> bool:
        return self.mimetype in IMAGE_TYPES

    @property
    def kind(self) -> str:
        """The type in words for a message ('a PDF file', 'an SVG image')."""
        label = (self.filetype or self.mimetype or "unknown").upper()
        return f"{label} ({self.mimetype})" if self.mimetype else label


def pick_file(files: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The file a message is about: its first image by the event's own type, else its first file."""
    for item in files:
        if str(item.get("mimetype") or "").lower() in IMAGE_TYPES:
            return item
    return files[0] if files else None


def file_info(client: WebClient, file_id: str) -> SlackFile:
    """files.info for `file_id`; FileDownloadError naming Slack's error when it refuses."""
    if not file_id:
        raise FileDownloadError("file: the event carried a file without an id")
    try:
        response = client.files_info(file=file_id)
    except SlackApiError as exc:
        error = slack_error(exc)
        hint = (
            " (is the files:read scope granted?)"
            if error in {"missing_scope", "not_allowed_token_type"}
            else ""
        )
        raise FileDownloadError(f"file {file_id}: Slack's files.info answered {error}{hint}") from exc
    except OSError as exc:
        raise FileDownloadError(f"file {file_id}: Slack could not be reached for files.info: {exc}") from exc
    data = response.get("file")
    if not isinstance(data, Mapping):
        raise FileDownloadError(f"file {file_id}: files.info answered without a file object")
    return SlackFile.from_api(data)


def check_file(file: SlackFile, max_bytes: int) -> None:
    """BadImageError for a file that is not an image this bot reads, or is over `max_bytes`."""
    if not file.is_image:
        raise BadImageError(
            f"“{file.name}” is a {file.kind} file, not a photo I can use; attach {ACCEPTED_WORDS}"
        )
    if file.size > max_bytes:
        raise BadImageError(
            f"“{file.name}” is {_megabytes(file.size)}, over this bot's limit of {_megabytes(max_bytes)}; "
            "attach a smaller photo"
        )


def download_origins(api_url: str) -> frozenset[str]:
    """Where the bot token may be sent for a download: Slack's file host, and the Web API's own origin."""
    parts = urlsplit(api_url)
    if not parts.scheme or not parts.hostname:
        raise FileDownloadError(f"api_url {api_url!r} is not an absolute URL")
    origins = {_origin(api_url)}
    host = parts.hostname.lower()
    for domain in ("slack.com", "slack-gov.com"):
        if host == domain or host.endswith(f".{domain}"):
            origins.add(f"https://files.{domain}")
    return frozenset(origins)


def download_file(
    file: SlackFile,
    *,
    token: str,
    folder: Path,
    max_bytes: int,
    origins: frozenset[str],
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Stream the file into `folder` (atomically, under `max_bytes`) and return its path."""
    if not file.url:
        raise FileDownloadError(f"“{file.name}”: Slack gave no download URL for it")
    if _origin(file.url) not in origins:
        raise FileDownloadError(
            f"“{file.name}”: its download URL is on {_origin(file.url)}, not on Slack's file host; "
            "the bot token is not sent there"
        )
    folder.mkdir(parents=True, exist_ok=True)
    suffix = IMAGE_TYPES.get(file.mimetype, "")
    stem = _SAFE_NAME.sub("_", Path(file.name).stem)[:40] or "file"
    target = folder / f"{file.id}-{stem}{suffix}"
    temp = folder / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", file.url, headers={"Authorization": f"Bearer {token}"}) as response,
        ):
            _check_response(file, response, max_bytes)
            written = 0
            with temp.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise BadImageError(
                            f"“{file.name}” is over this bot's limit of {_megabytes(max_bytes)}; attach a smaller photo"
                        )
                    out.write(chunk)
            if written == 0:
                raise FileDownloadError(f"“{file.name}”: Slack sent an empty file")
        os.replace(temp, target)
    except httpx.TimeoutException as exc:
        raise FileDownloadError(
            f"“{file.name}”: the download from Slack timed out after {timeout_s:.0f}s"
        ) from exc
    except httpx.HTTPError as exc:
        raise FileDownloadError(f"“{file.name}”: the download from Slack failed: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return target


def check_image_file(path: Path, file: SlackFile, max_pixels: int) -> None:
    """Decode the downloaded file once, so a broken or fake image fails here with the Slack file's name."""
    from productshot.tools.imageio import load_image

    try:
        load_image(path, max_pixels=max_pixels)
    except BadImageError as exc:
        reason = str(exc).replace(str(path), file.name)
        raise BadImageError(f"“{file.name}” could not be read as an image: {reason}") from exc


def _check_response(file: SlackFile, response: httpx.Response, max_bytes: int) -> None:
    if response.status_code != 200:
        raise FileDownloadError(
            f"“{file.name}”: Slack answered the download with HTTP {response.status_code}"
        )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "text/html":
        raise FileDownloadError(
            f"“{file.name}”: Slack sent a sign-in page instead of the file; the bot token needs the files:read scope"
        )
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise BadImageError(
            f"“{file.name}” is {_megabytes(int(length))}, over this bot's limit of {_megabytes(max_bytes)}; "
            "attach a smaller photo"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


__all__ = [
    "ACCEPTED_WORDS",
    "IMAGE_TYPES",
    "SlackFile",
    "check_file",
    "check_image_file",
    "download_file",
    "download_origins",
    "file_info",
    "pick_file",
]
