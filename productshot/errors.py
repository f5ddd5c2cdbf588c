"""The few named errors productshot raises; every message names the argument and what was wrong.

Libraries raise these; the CLI prints them without a traceback, MCP returns them as tool errors and the
worker answers them as JSON with the status code given here. That status also picks the CLI's exit status:
4xx (the caller can fix it) exits 2, 5xx (not the caller's fault) exits 3; see productshot/cli/exits.py.
"""

from __future__ import annotations


class ProductshotError(Exception):
    """Base of every error a user can act on."""

    code = "error"
    http_status = 500

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": str(self)}


class BadImageError(ProductshotError):
    """An image argument that cannot be read, is too small, too large or not an image at all."""

    code = "bad_image"
    http_status = 422


class BadRequestError(ProductshotError):
    """An argument with a wrong value: empty request, scale out of range, size too large, ..."""

    code = "bad_request"
    http_status = 422


class PositionError(BadRequestError):
    """A position that cannot be parsed, is off the canvas or contradicts itself."""

    code = "bad_position"


class ModelError(ProductshotError):
    """An unknown model, one whose weights are missing, gated without a token, or that failed to load."""

    code = "model_unavailable"
    http_status = 404


class PathNotAllowedError(ProductshotError):
    """A file path outside the allowed folders (after resolving symlinks and `..`)."""

    code = "path_not_allowed"
    http_status = 403


class NotFoundError(ProductshotError):
    """An asset, job or file that does not exist."""

    code = "not_found"
    http_status = 404


class WorkerUnavailableError(ProductshotError):
    """The resident worker does not answer, died mid-job, or its queue stayed full past the deadline."""

    code = "worker_unavailable"
    http_status = 503


class JobTimeoutError(ProductshotError):
    """A job ran past its time limit and was stopped."""

    code = "timeout"
    http_status = 504


class JobCancelledError(ProductshotError):
    """A job was cancelled by its caller."""

    code = "cancelled"
    http_status = 409


class DeviceOutOfMemoryError(ProductshotError):
    """The accelerator ran out of memory even at batch size 1."""

    code = "out_of_memory"
    http_status = 507


class StoreError(ProductshotError):
    """The asset store cannot be used: busy past its timeout, corrupt, closed, or from a newer version."""

    code = "store_error"
    http_status = 503


class StoreCorruptError(StoreError):
    """The asset store's database file is damaged; `productshot store repair` salvages what it can."""

    code = "store_corrupt"


class LLMError(ProductshotError):
    """The configured chat model failed (auth, rate limit, server error, bad answer)."""

    code = "llm_error"
    http_status = 502


__all__ = [
    "BadImageError",
    "BadRequestError",
    "DeviceOutOfMemoryError",
    "JobCancelledError",
    "JobTimeoutError",
    "LLMError",
    "ModelError",
    "NotFoundError",
    "PathNotAllowedError",
    "PositionError",
    "ProductshotError",
    "StoreCorruptError",
    "StoreError",
    "WorkerUnavailableError",
]
