"""Outbound webhook benchmark: a hub on the embedded default posting to a local receiver
(aiohttp on loopback, allow-listed).

    .venv/bin/python bench/webhooks.py [--messages 2000] [--endpoints 1] [--rate 100]

Live: `--endpoints` endpoints want `message.received` while `--messages` arrive as fast as the
chat webhook takes them (or `--rate` a second). Burst: one endpoint wants
`conversation.status_changed` while every conversation is resolved, 100 to a bulk request.
Figures for each: deliveries per second, and the time to the receiver's request from the
event's `occurred_at` (set before its commit, so it includes the commit's own wait under load)
and, for a message, from the moment its sender had the hub's acknowledgement (after the
commit), p50 and p99. Prints figures; asserts nothing.
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
from typing import Any

import aiohttp
from aiohttp import web

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, PASSWORD, SIGNED_IN_HUB_ENV, fill, free_port, running_hub  # noqa: E402


class Receiver:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.since_ack: list[float] = []
        self.acked: dict[str, float] = {}  # a message's id: when its sender had the answer
        self.arrived: list[float] = []
        self.expected = 0
        self.all_arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        now = datetime.now(UTC)
        self.arrived.append(time.perf_counter())
        self.latencies.append((now - datetime.fromisoformat(event["occurred_at"])).total_seconds())
        if (acked := self.acked.get(event["data"].get("message_id"))) is not None:
            self.since_ack.append(self.arrived[-1] - acked)
        if len(self.arrived) >= self.expected:
            self.all_arrived.set()
        return web.Response(text="ok")


async def subscribe(http: aiohttp.ClientSession, url: str, token: str, target: str, event: str) -> None:
    body = {"url": target, "events": [event]}
    async with http.post(
        f"{url}/api/v1/webhooks", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 201, await resp.text()


async def open_conversations(http: aiohttp.ClientSession, url: str, token: str) -> list[str]:
    ids, cursor = [], None
    while True:
        query = {"status": "open", "limit": "100"} | ({"cursor": cursor} if cursor else {})
        async with http.get(f"{url}/api/v1/conversations", params=query,
                            headers={"Authorization": f"Bearer {token}"}) as resp:  # fmt: skip
            page = await resp.json()
        ids += [c["id"] for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            return ids


def report(title: str, receiver: Receiver, started: float) -> None:
    done = len(receiver.arrived)
    span = (receiver.arrived[-1] - started) if done else float("nan")
    cuts = statistics.quantiles(receiver.latencies, n=100) if done > 1 else [float("nan")] * 99
    worst = max(receiver.latencies, default=float("nan"))
    print(title)
    print(f"  {done}/{receiver.expected} deliveries in {span:.1f} s: {done / span:.0f} deliveries/s")
    p50, p99 = cuts[49] * 1000, cuts[98] * 1000
    print(f"  occurred_at to receiver: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {worst * 1000:.0f} ms")
    if len(receiver.since_ack) > 1:
        cuts = statistics.quantiles(receiver.since_ack, n=100)
        worst = max(receiver.since_ack)
        p50, p99 = cuts[49] * 1000, cuts[98] * 1000
        print(f"  acknowledged to receiver: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {worst * 1000:.0f} ms")


async def main(messages: int, endpoints: int, rate: float | None) -> None:
    live, burst = Receiver(), Receiver()
    app = web.Application()
    app.router.add_post("/live", live.handle)
    app.router.add_post("/burst", burst.handle)
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
            await subscribe(http, hub.url, token, f"http://127.0.0.1:{port}/live", "message.received")
        await subscribe(http, hub.url, token, f"http://127.0.0.1:{port}/burst", "conversation.status_changed")
        # Live: each message delivered while messages keep arriving.
        live.expected = messages * endpoints
        started = time.perf_counter()

        def acked(answer: dict[str, Any]) -> None:
            live.acked[answer["id"]] = time.perf_counter()

        taken = await fill(hub.url, messages, rate=rate, acked=acked)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.all_arrived.wait(), 600)
        rate = f"{messages / taken:.0f}/s"
        title = f"live: {messages} messages taken in {taken:.1f} s ({rate}), {endpoints} endpoints"
        report(title, live, started)
        # A burst: every conversation resolved, 100 to a request, nothing else arriving.
        ids = await open_conversations(http, hub.url, token)
        burst.expected = len(ids)
        started = time.perf_counter()
        for first in range(0, len(ids), 100):
            body = {"ids": ids[first : first + 100], "status": "resolved"}
            async with http.post(f"{hub.url}/api/v1/conversations/bulk", json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as resp:  # fmt: skip
                assert resp.status == 200, await resp.text()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(burst.all_arrived.wait(), 600)
        report(f"burst: {len(ids)} conversations resolved, 100 to a request", burst, started)
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=1, help="endpoints wanting message.received")
    parser.add_argument("--rate", type=float, help="messages a second (default: as fast as taken)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.endpoints, arguments.rate))
