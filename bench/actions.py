"""Agent actions against a full inbox: how long the API takes to change a conversation's status,
to add a reply (an outbound message, its outbox entry and the conversation's counters), and to
read the inbox (its first and next page, all statuses, the counts, a search) when many
conversations are stored, and the CSV export of all of them (a manager's download).

    .venv/bin/python bench/actions.py [--conversations 10000] [--actions 50] [--history-days 60]
                                      [--open-share 0.25]

Starts an embedded database on disk and a hub (`python -m hub serve`, NLP worker off), fills it
through signed chat webhooks (one conversation per new sender, which also times ingest from new
customers), spreads their last activity over the history's days and resolves all but the open
share (in the database: a webhook cannot date a message in the past), signs in as an admin and times each
action on conversations of the open inbox. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from pymongo import AsyncMongoClient, UpdateOne

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, BENCH_DB, PASSWORD, SIGNED_IN_HUB_ENV, fill, peak_rss_mb, running_hub  # noqa: E402
from crm_core.vocabularies import CONVERSATION_STATUSES  # noqa: E402

ALL_STATUSES = ",".join(CONVERSATION_STATUSES)


async def _timed(http: aiohttp.ClientSession, method: str, url: str, body: dict | None = None) -> float:
    started = time.perf_counter()
    async with http.request(method, url, json=body) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url} answered {resp.status}: {await resp.text()}")
        await resp.read()
    return time.perf_counter() - started


async def _download(http: aiohttp.ClientSession, url: str) -> tuple[float, float, int]:
    """Seconds to the first bytes and to the whole body, and its lines."""
    started = time.perf_counter()
    async with http.get(url) as resp:
        first = await resp.content.readany()
        first_bytes = time.perf_counter() - started
        body = first + await resp.read()
    return first_bytes, time.perf_counter() - started, body.count(b"\n")


def _figures(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{name:28} p50 {statistics.median(ms):7.1f} ms   p95 {ms[int(len(ms) * 0.95)]:7.1f} ms"


async def _age(mongo_uri: str, days: float, open_share: float) -> None:
    """Spread the conversations' last activity over `days` and resolve all but `open_share` of
    them, as in an inbox in use (a webhook cannot date a message in the past)."""
    rng, now = random.Random(7), datetime.now(UTC)
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri)
    conversations = client[BENCH_DB].conversations
    ids = [c["_id"] async for c in conversations.find({}, {"_id": 1})]
    await conversations.bulk_write(
        [
            UpdateOne(
                {"_id": conversation_id},
                {
                    "$set": {
                        "last_message_at": now - timedelta(days=rng.uniform(0, days)),
                        "status": "open" if rng.random() < open_share else "resolved",
                    }
                },
            )
            for conversation_id in ids
        ]
    )
    await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=50)
    parser.add_argument(
        "--history-days", type=float, default=60, help="spread the activity over this many days; 0: leave it"
    )
    parser.add_argument("--open-share", type=float, default=0.25, help="the share of conversations left open")
    args = parser.parse_args()
    async with running_hub(**SIGNED_IN_HUB_ENV) as hub:
        seconds = await fill(hub.url, args.conversations)
        print(f"filled {args.conversations} conversations in {seconds:.1f} s "
              f"({args.conversations / seconds:.0f} new customers/s)")  # fmt: skip
        if args.history_days:
            await _age(hub.mongo_uri, args.history_days, args.open_share)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{hub.url}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}) as resp,
        ):
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        inbox = f"{hub.url}/api/v1/conversations?status=open&limit=50"
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(inbox) as resp:
                first_page = await resp.json()
            ids = [c["id"] for c in first_page["items"]]
            ids = (ids * (args.actions // len(ids) + 1))[: args.actions]
            reads = {
                "open inbox, first page": inbox,
                "open inbox, next page": f"{inbox}&cursor={first_page['next_cursor']}",
                "all statuses, first page": f"{hub.url}/api/v1/conversations?status={ALL_STATUSES}&limit=50",
                "inbox counts": f"{hub.url}/api/v1/inbox/counts",
                # A contact's name: customer-123 and customer-1230 to -1239.
                "search, first page": f"{hub.url}/api/v1/conversations?status={ALL_STATUSES}&q=customer-123",
            }
            timings: dict[str, list[float]] = {name: [] for name in ("resolve", "reopen", "reply", *reads)}
            for conversation_id in ids:
                url = f"{hub.url}/api/v1/conversations/{conversation_id}"
                timings["resolve"].append(await _timed(http, "PATCH", url, {"status": "resolved"}))
                timings["reopen"].append(await _timed(http, "PATCH", url, {"status": "open"}))
                timings["reply"].append(await _timed(http, "POST", f"{url}/messages", {"text": "On it."}))
                for name, read in reads.items():
                    timings[name].append(await _timed(http, "GET", read))
            # Every conversation was made today (only its activity was spread over the days).
            export = await _download(http, f"{hub.url}/api/v1/reports/export.csv")
        rss = peak_rss_mb(hub.pid)
        history = (
            f", activity over {args.history_days:g} days, {args.open_share:.0%} open"
            if args.history_days
            else ""
        )
        print(f"{args.actions} of each, {args.conversations} conversations stored{history}:")
        for name, values in timings.items():
            print(" ", _figures(name, values))
        first_bytes, whole, lines = export
        print(f"CSV export, {lines - 1} rows: first bytes {first_bytes * 1000:.0f} ms, "
              f"whole {whole * 1000:.0f} ms")  # fmt: skip
        print(f"hub peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
