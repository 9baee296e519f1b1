"""Files through the API: those it hands out (named alike in every browser, never run by one)
and those it takes (read as they stream in, refused once past their limit)."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import IO, Any
from urllib.parse import quote

from aiohttp import web

from hub.api.errors import ApiError


def download_headers(filename: str) -> dict[str, str]:
    """The file's name in UTF-8 (RFC 6266 `filename*`, so a Chinese name arrives as written),
    a plain ASCII one for clients that know only `filename`, and no rendering of what a
    customer sent: no type sniffing, and a sandbox should a browser show it anyway."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in filename)
    return {
        "Content-Disposition": f'attachment; filename="{fallback.strip() or "download"}"; '
        f"filename*=UTF-8''{quote(filename, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }


def attachment_response(attachment: dict[str, Any]) -> web.Response:
    """A stored attachment's bytes, as a download."""
    return web.Response(
        body=attachment["content"],
        content_type=attachment.get("content_type") or "application/octet-stream",
        headers=download_headers(attachment["name"] or "attachment"),
    )


FILE_CHUNK_BYTES = 64 * 1024


async def read_capped(next_chunk: Callable[[int], Awaitable[bytes]], max_bytes: int, what: str) -> bytes:
    """A file read chunk by chunk (`next_chunk(size)`, b"" at its end), refused with a 413 as soon
    as it passes `max_bytes`, before the rest of it is sent."""
    content = io.BytesIO()
    await copy_capped(next_chunk, max_bytes, what, content)
    return content.getvalue()


async def copy_capped(
    next_chunk: Callable[[int], Awaitable[bytes]], max_bytes: int, what: str, into: IO[bytes]
) -> int:
    """`read_capped` into a file (a spooled temporary one keeps memory flat); returns its size."""
    size = 0
    while chunk := await next_chunk(FILE_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "file_too_large", f"{what} may be at most {max_bytes} bytes")
        into.write(chunk)
    return size
