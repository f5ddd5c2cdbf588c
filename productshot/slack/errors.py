"""The Slack bot's own failures: a file it could not download, a full queue, Slack itself unreachable.

Bad input (not an image, too large, no photo) raises the named errors of `productshot.errors`; these are the
bot's operational failures. Each is a `ProductshotError`, so its message is posted in the Slack thread and the
CLI prints it without a traceback.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from productshot.errors import ProductshotError


class FileDownloadError(ProductshotError):
    """A Slack file could not be fetched: files.info failed, the download answered an error, or timed out."""

    code = "download_failed"
    http_status = 502


class BotBusyError(ProductshotError):
    """Every worker slot and queue place is taken; the request was not accepted."""

    code = "busy"
    http_status = 429


class BotStoppedError(ProductshotError):
    """The bot's worker pool is not running (not started yet, or shutting down)."""

    code = "stopped"
    http_status = 503


class SlackUnavailableError(ProductshotError):
    """Slack refused the bot's token or could not be reached (at start, or while answering)."""

    code = "slack_unavailable"
    http_status = 502


def slack_error(exc: SlackApiError) -> str:
    """The Web API's error code of a failed call (`invalid_auth`, `missing_scope`, `not_in_channel` …)."""
    response = exc.response
    error = response.get("error") if response is not None else None
    return str(error or exc)


__all__ = ["BotBusyError", "BotStoppedError", "FileDownloadError", "SlackUnavailableError", "slack_error"]
