"""Reading request bodies within a limit: 413 as soon as a body is known to be too big (by its
Content-Length, or while it streams in), never after buffering it whole."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request

from swarmscope_gateway.errors import ApiError
from swarmscope_schema.requests import ErrorCode

_NO_DEFAULT: Any = object()
_INFLATE_STEP = 1024 * 1024
_INFLATERS = {
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.decompressobj(),  # HTTP's "deflate" is the zlib format
}


def too_large(limit: int) -> ApiError:
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"the request body exceeds {limit} bytes")


def check_length(request: Request, limit: int) -> None:
    """413 at once when the declared Content-Length is over the limit (0 = no limit)."""
    declared = request.headers.get("content-length")
    if declared is None or not limit:
        return
    try:
        length = int(declared)
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, "Content-Length is not a number") from None
    if length > limit:
        raise too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing it with 413 once it passes `limit` bytes."""
    check_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, empty: Any = _NO_DEFAULT) -> Any:
    """The body parsed as JSON; 400 when it is not JSON (or empty, unless `empty` is given)."""
    body = await read_body(request, limit)
    if not body.strip():
        if empty is _NO_DEFAULT:
            raise ApiError(ErrorCode.BAD_REQUEST, "body: a JSON body is required")
        return empty
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"body: not valid JSON ({exc})") from None


async def stream_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body chunk by chunk, decompressed when `Content-Encoding: gzip` (or `deflate`, which
    OpenTelemetry exporters offer too); 413 once the (decompressed) size passes `limit` (0 = no
    limit), so a small gzip bomb is refused too."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate", ""):
        raise ApiError(
            ErrorCode.BAD_REQUEST, f"Content-Encoding {encoding!r} is not supported (use gzip or none)"
        )
    inflater = _INFLATERS[encoding]() if encoding in _INFLATERS else None
    if inflater is None:
        check_length(request, limit)
    size = 0
    async for chunk in request.stream():
        if inflater is None:
            size += len(chunk)
            if limit and size > limit:
                raise too_large(limit)
            if chunk:
                yield chunk
            continue
        pending = chunk
        while pending:
            try:
                # Bounded output per step: a few KiB of gzip can inflate to gigabytes.
                out = inflater.decompress(pending, _INFLATE_STEP)
            except zlib.error as exc:
                raise ApiError(ErrorCode.BAD_REQUEST, f"body: not valid {encoding} ({exc})") from None
            pending = inflater.unconsumed_tail
            size += len(out)
            if limit and size > limit:
                raise too_large(limit)
            if out:
                yield out
    if inflater is not None:
        tail = inflater.flush()
        if limit and size + len(tail) > limit:
            raise too_large(limit)
        if tail:
            yield tail
        if not inflater.eof:
            raise ApiError(ErrorCode.BAD_REQUEST, f"body: the {encoding} stream is truncated")
