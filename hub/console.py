"""Serves the staff console (the build of `web/`) at `/`: hashed assets cached for a year and
served pre-compressed, every client-side route answered with `index.html`. Without a build,
`/` says in one line how to make one."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from aiohttp import web

from hub.api.errors import ApiError

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
mimetypes.add_type("application/manifest+json", ".webmanifest")  # the installable app's manifest
# Paths the hub answers itself: never the console's index.html, so an unknown API path is a 404.
NOT_CONSOLE = ("/api/", "/webhooks/", "/widget", "/unsubscribe", "/healthz", "/readyz", "/metrics")
NOT_BUILT = (
    "The staff console is not built: run `bash scripts/run` (or `cd web && npm ci && npm run build`).\n"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}


def console_dir() -> Path:
    return Path(os.environ.get("HUB_CONSOLE_DIR") or DIST)


def install(app: web.Application) -> None:
    root = console_dir()

    async def asset(request: web.Request) -> web.StreamResponse:
        path = (root / "assets" / request.match_info["name"]).resolve()
        if path.parent != (root / "assets").resolve() or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=ASSET_HEADERS)

    async def page(request: web.Request) -> web.StreamResponse:
        if request.path.startswith(NOT_CONSOLE):
            raise ApiError(404, "not_found", f"no route {request.path}")
        index = root / "index.html"
        if not index.is_file():
            return web.Response(text=NOT_BUILT, status=503, content_type="text/plain")
        return web.FileResponse(index, headers=PAGE_HEADERS)

    async def public_file(request: web.Request) -> web.StreamResponse:
        path = (root / request.match_info["name"]).resolve()
        if path.parent != root.resolve() or not path.is_file():
            return await page(request)
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    app.router.add_get("/assets/{name}", asset, name="console-assets")
    app.router.add_get(r"/{name:[\w-]+\.(?:svg|ico|png|txt|webmanifest)}", public_file, name="console-files")
    app.router.add_get("/{tail:.*}", page, name="console-pages")
