"""A tiny aiohttp server on a free loopback port, the base of the tests' stand-in peers."""

from __future__ import annotations

from typing import Self

from aiohttp import web

from tests.mail_peers import free_port


class LocalServer:
    def __init__(self) -> None:
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        app = web.Application()
        self.routes(app.router)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
