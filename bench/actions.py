"""Agent actions against a full inbox: how long the API takes to change a conversation's status
and to add a reply (an outbound message, its outbox entry and the conversation's counters) when
many conversations are stored.

    .venv/bin/python bench/actions.py [--conversations 10000] [--actions 50]

Starts an embedded database on disk and a hub (`python -m hub serve`, NLP worker off), fills it
through signed chat webhooks (one conversation per new sender, which also times ingest from new
customers), signs in as an admin and times each action on conversations spread over the inbox.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, PASSWORD, SIGNED_IN_HUB_ENV, fill, running_hub  # noqa: E402


async def _timed(http: aiohttp.ClientSession, method: str, url: str, body: dict | None = None) -> float:
    started = time.perf_counter()
    async with http.request(method, url, json=body) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url} answered {resp.status}: {await resp.text()}")
        await resp.read()
    return time.perf_counter() - started


def _figures(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{name:28} p50 {statistics.median(ms):7.1f} ms   p95 {ms[int(len(ms) * 0.95)]:7.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=50)
    args = parser.parse_args()
    async with running_hub(**SIGNED_IN_HUB_ENV) as hub:
        seconds = await fill(hub.url, args.conversations)
        print(f"filled {args.conversations} conversations in {seconds:.1f} s "
              f"({args.conversations / seconds:.0f} new customers/s)")  # fmt: skip
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{hub.url}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}) as resp,
        ):
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            ids = []
            async with http.get(f"{hub.url}/api/v1/conversations?limit=100") as resp:
                ids = [c["id"] for c in (await resp.json())["items"]]
            ids = (ids * (args.actions // len(ids) + 1))[: args.actions]
            timings: dict[str, list[float]] = {
                "resolve": [],
                "reopen": [],
                "reply": [],
                "inbox page": [],
                "counts": [],
            }
            for conversation_id in ids:
                url = f"{hub.url}/api/v1/conversations/{conversation_id}"
                timings["resolve"].append(await _timed(http, "PATCH", url, {"status": "resolved"}))
                timings["reopen"].append(await _timed(http, "PATCH", url, {"status": "open"}))
                timings["reply"].append(await _timed(http, "POST", f"{url}/messages", {"text": "On it."}))
                inbox = f"{hub.url}/api/v1/conversations?status=open&limit=50"
                timings["inbox page"].append(await _timed(http, "GET", inbox))
                timings["counts"].append(await _timed(http, "GET", f"{hub.url}/api/v1/inbox/counts"))
        print(f"{args.actions} of each, {args.conversations} conversations stored:")
        for name, values in timings.items():
            print(" ", _figures(name, values))


if __name__ == "__main__":
    asyncio.run(main())
