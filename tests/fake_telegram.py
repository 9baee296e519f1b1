"""A small local stand-in for the Telegram Bot API, so python-telegram-bot's real code runs."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from tests.local_server import LocalServer

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Hub", "username": "hub_test_bot"}


class FakeTelegram(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.times: dict[int, list[float]] = {}  # chat id -> when each send for it arrived
        self.blocked: set[int] = set()
        self.rate_limited: dict[int, int] = {}  # chat id -> how many 429s to answer first
        self.rate_limited_after: dict[int, int] = {}  # chat id -> one 429 after this many more sends
        self.delivered: dict[int, list[str]] = {}  # chat id -> the texts it received, in order
        self.outage = False  # answer every call 502 Bad Gateway, as an unreachable Telegram would
        self._next_id = 1000

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/bot{token}/{method}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        params = {key: _value(value) for key, value in form.items()}
        self.calls.append((method, params))
        if self.outage:
            return web.Response(status=502, text="Bad Gateway")
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        if chat_id is not None:
            self.times.setdefault(chat_id, []).append(time.monotonic())
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id is not None and self.rate_limited_after.get(chat_id) == 0:
            del self.rate_limited_after[chat_id]
            self.rate_limited[chat_id] = 1
        if chat_id is not None and self.rate_limited.get(chat_id):
            self.rate_limited[chat_id] -= 1
            return _error(429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
        if chat_id in self.rate_limited_after:
            self.rate_limited_after[chat_id] -= 1
        if len(str(params.get("text", "")).encode("utf-16-le")) > 2 * 4096:
            return _error(400, "Bad Request: message is too long")
        if method == "getMe":
            return _ok(BOT_USER)
        if method in ("setWebhook", "deleteWebhook"):
            return _ok(True)
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            self._next_id += 1
            message = {"message_id": self._next_id, "date": int(time.time()), "from": BOT_USER,
                       "chat": {"id": chat_id, "type": "private"}}  # fmt: skip
            if method == "sendMessage":
                message["text"] = params.get("text", "")
                self.delivered.setdefault(chat_id, []).append(message["text"])
            elif method == "sendDocument":
                upload = params["document"]
                message["document"] = {
                    "file_id": "d1",
                    "file_unique_id": "d1",
                    "file_name": upload["filename"],
                }
            else:
                message["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]
            return _ok(message)
        return _error(404, f"Not Found: method {method}")


def _value(value: Any) -> Any:
    if isinstance(value, web.FileField):
        return {"filename": value.filename, "content": value.file.read()}  # read before aiohttp closes it
    try:
        return json.loads(value)
    except ValueError:
        return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description, **extra}, status=code
    )
