"""Headers for files the API hands out: named alike in every browser, never run by one."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web


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
