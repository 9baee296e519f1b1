"""Outbound webhook benchmark: a hub on the embedded default posting `message.received` to a
local receiver (aiohttp on loopback, allow-listed).

    .venv/bin/python bench/webhooks.py [--messages 2000] [--endpoints 1]

Figures: from each message's commit (the event's `occurred_at`) to the receiver's request, p50
and p99; and deliveries per second while `--messages` arrive as fast as the chat webhook takes
them. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, PASSWORD, SIGNED_IN_HUB_ENV, fill, free_port, running_hub  # noqa: E402


class Receiver:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.arrived: list[float] = []
        self.expected = 0
        self.all_arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        now = datetime.now(UTC)
        self.arrived.append(time.perf_counter())
        self.latencies.append((now - datetime.fromisoformat(event["occurred_at"])).total_seconds())
        if len(self.arrived) >= self.expected:
            self.all_arrived.set()
        return web.Response(text="ok")


async def main(messages: int, endpoints: int) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env = SIGNED_IN_HUB_ENV | {"HUB_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1"}
    async with running_hub(**env) as hub, aiohttp.ClientSession() as http:
        async with http.post(
            f"{hub.url}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        for _ in range(endpoints):
            body = {"url": f"http://127.0.0.1:{port}/hook", "events": ["message.received"]}
            async with http.post(f"{hub.url}/api/v1/webhooks", json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as resp:  # fmt: skip
                assert resp.status == 201, await resp.text()
        expected = receiver.expected = messages * endpoints
        started = time.perf_counter()
        sent_in = await fill(hub.url, messages)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.all_arrived.wait(), 600)
    await runner.cleanup()
    done = len(receiver.arrived)
    span = (receiver.arrived[-1] - started) if done else float("nan")
    cuts = statistics.quantiles(receiver.latencies, n=100) if done > 1 else [float("nan")] * 99
    print(
        f"{messages} messages taken in {sent_in:.1f} s ({messages / sent_in:.0f}/s), {endpoints} endpoint(s)"
    )
    print(f"{done}/{expected} deliveries in {span:.1f} s: {done / span:.0f} deliveries/s")
    worst = max(receiver.latencies, default=float("nan"))
    p50, p99 = cuts[49] * 1000, cuts[98] * 1000
    print(f"commit to receiver: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {worst * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.endpoints))
