"""A small local stand-in for the Slack Web API, so slack-sdk's and slack-bolt's real code runs."""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web

from tests.local_server import LocalServer


class FakeSlack(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.profiles: dict[str, dict[str, Any]] = {}  # user id -> profile (real_name, email)
        self.missing_channels: set[str] = set()
        self.uploads: list[bytes] = []
        self._ts = itertools.count(1)

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/api/{method}", self._handle)
        router.add_post("/upload/{file}", self._upload)

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        return web.Response(text="OK")

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            params = dict(request.query)
        elif request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        self.calls.append((method, params))
        if method == "auth.test":
            return _ok(user_id="UBOT", bot_id="BBOT", team_id="T1", user="hub", team="Acme")
        if method == "users.info":
            profile = self.profiles.get(params.get("user"), {"real_name": "Someone"})
            return _ok(user={"id": params.get("user"), "profile": profile})
        if method == "users.lookupByEmail":
            found = [uid for uid, p in self.profiles.items() if p.get("email") == params.get("email")]
            return _ok(user={"id": found[0]}) if found else _error("users_not_found")
        if method == "chat.postMessage":
            if params.get("channel") in self.missing_channels:
                return _error("channel_not_found")
            return _ok(channel=params.get("channel"), ts=f"1700000000.{next(self._ts):06d}")
        if method == "files.getUploadURLExternal":
            return _ok(upload_url=f"{self.base_url}/upload/F1", file_id="F1")
        if method == "files.completeUploadExternal":
            return _ok(files=[{"id": "F1", "title": "chart"}])
        return _error("unknown_method")


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str) -> web.Response:
    return web.Response(text=json.dumps({"ok": False, "error": error}), content_type="application/json")
