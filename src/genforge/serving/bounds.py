"""Request bounds and validation for `genforge serve`: every refusal names the problem.

A body is read at most `serve.max_body_bytes` (413 beyond), must be a JSON object
(400), and each field is checked against what the model and the config allow (400
naming the field, the value and the range). At most `serve.max_concurrent` requests
sample at once and `serve.max_queue` wait; one more is answered 429 at once, so load
cannot grow memory without bound. Errors use MLflow's scoring-server shape,
{"error_code": ..., "message": ...}, so one client handles both servers.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

MAX_SEED = 2**53  # exact in a JSON number (a double)
MAX_STRIP = 16  # interpolation points per request
MAX_DRAWS = 4  # inpainting draws per request


class HttpError(Exception):
    """A refusal: HTTP status, an MLflow-style error code, and the message."""

    def __init__(self, status: int, message: str, code: str = "INVALID_PARAMETER_VALUE"):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "message": self.message}


async def read_body(request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(
            413,
            f"request body of {declared} bytes; at most {limit} (serve.max_body_bytes)",
            "REQUEST_LIMIT_EXCEEDED",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(
                413,
                f"request body over {limit} bytes (serve.max_body_bytes)",
                "REQUEST_LIMIT_EXCEEDED",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"malformed JSON body: {exc}", "MALFORMED_REQUEST") from None
    if not isinstance(value, dict):
        raise HttpError(400, f"the body must be a JSON object, got {type(value).__name__}")
    return value


class Fields:
    """Typed access to a request's fields; each getter refuses a bad value by name."""

    def __init__(self, values: dict[str, Any], allowed: tuple[str, ...]):
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise HttpError(400, f"unknown field(s) {unknown}; allowed: {list(allowed)}")
        self.values = values

    def integer(self, key: str, default: int | None, lo: int, hi: int) -> int | None:
        value = self.values.get(key, default)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)  # query strings
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise HttpError(400, f"{key} must be an integer, got {value!r}")
        if not lo <= int(value) <= hi:
            raise HttpError(400, f"{key} must be in [{lo}, {hi}], got {int(value)}")
        return int(value)

    def number(self, key: str, lo: float, hi: float) -> float | None:
        value = self.values.get(key)
        if value is None:
            return None
        with suppress(ValueError):
            value = float(value) if isinstance(value, str) else value
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise HttpError(400, f"{key} must be a number, got {value!r}")
        if not lo <= value <= hi:
            raise HttpError(400, f"{key} must be in [{lo}, {hi}], got {value}")
        return float(value)

    def label(self, caps: dict[str, Any]) -> int | None:
        value = self.values.get("label")
        if value in (None, ""):
            return None
        if not caps["conditional"]:
            raise HttpError(400, f"this model is unconditional; label must be null, got {value!r}")
        k = caps["num_classes"]
        if isinstance(value, int | str) and str(value).lstrip("-").isdigit():
            if not 0 <= int(value) < k:
                raise HttpError(400, f"unknown label {value}; this model knows 0..{k - 1}")
            return int(value)
        raise HttpError(400, f"label must be an integer class or null, got {value!r}")


class Limiter:
    """At most `concurrent` holders; at most `queue` waiting; 429 beyond (no unbounded queue)."""

    def __init__(self, concurrent: int, queue: int):
        self.concurrent, self.queue = concurrent, queue
        self.active = self.waiting = 0
        self._sem: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrent)
        if self.active >= self.concurrent and self.waiting >= self.queue:
            raise HttpError(
                429,
                f"busy: {self.active} requests sampling and {self.waiting} waiting "
                f"(serve.max_concurrent {self.concurrent}, serve.max_queue {self.queue}); retry",
                "RESOURCE_EXHAUSTED",
            )
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._sem.release()
