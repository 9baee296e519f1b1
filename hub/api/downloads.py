"""Headers for files the API hands out: named alike in every browser, never run by one."""

from __future__ import annotations

from urllib.parse import quote


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
