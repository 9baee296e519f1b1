"""Ingest benchmark: signed chat webhooks against a real hub on loopback, compared with the
limit of the hub's own data model, and with raw `insert_one` throughput of the same driver
against the same database server.

The limit of the data model is a replay, with the driver alone and no hub: the same messages,
in the same batches (the hub's own commit records say which messages went together), written
by the same domain code (`Conversations.add_inbound`: the duplicate look-up, the messages, the
conversations' counters and the events, in one transaction per batch) into a fresh database
with the same indexes, one batch at a time as the hub's group commit writes them. What the hub
adds on top is its HTTP edge, contact and thread resolution, the group commit's waits, and the
listeners working beside the ingest.

    .venv/bin/python bench/ingest.py [--messages 5000] [--concurrency 32] [--senders 500] [--watchers 0]

Starts an embedded database on disk and a hub process (`python -m hub serve`) pointed at it,
or uses --url/--mongo-uri/--hub-pid for a hub you started yourself. With --watchers N, N agents
have the realtime stream open during the run (the hub then watches the database's changes and
pushes each message and conversation update to them). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from pymongo import AsyncMongoClient

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import (  # noqa: E402
    ADMIN,
    BENCH_DB,
    PASSWORD,
    SECRET,
    cpu_seconds,
    peak_rss_mb,
    running_hub,
)
from channels.base import hmac_sha256_signature  # noqa: E402
from crm_core.conversations import Conversations, InboundWrite  # noqa: E402
from crm_core.domain_events import EventLog  # noqa: E402
from crm_core.indexes import ensure_indexes  # noqa: E402
from crm_core.records import utcnow  # noqa: E402
from crm_core.search import TermSearch  # noqa: E402


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _drive_hub(url: str, messages: int, concurrency: int, senders: int) -> tuple[float, list[float]]:
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(messages):
        queue.put_nowait(n)
    latencies: list[float] = []

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = json.dumps(
                {
                    "external_id": f"{run}-{n}",
                    "sender": {"id": f"sender-{n % senders}", "name": f"Customer {n % senders}"},
                    "text": f"Hello, this is message {n} about my order #{n * 7 % 10000}",
                }
            ).encode()
            headers = {"X-Hub-Signature-256": hmac_sha256_signature(SECRET, body)}
            started = time.perf_counter()
            async with http.post(f"{url}/webhooks/chat", data=body, headers=headers) as resp:
                await resp.read()
                if resp.status not in (200, 201):
                    raise RuntimeError(f"hub answered {resp.status}")
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return messages / elapsed, latencies


@contextlib.asynccontextmanager
async def _watching(url: str, watchers: int) -> AsyncIterator[list[int]]:
    """`watchers` agents with the realtime stream open, each reading it; yields their event counts."""
    counts = [0] * watchers
    if not watchers:
        yield counts
        return
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}) as resp:
            token = (await resp.json())["token"]
        sockets = [
            await http.ws_connect(f"{url}/api/v1/stream?access_token={token}") for _ in range(watchers)
        ]

        async def read(n: int) -> None:
            async for _ in sockets[n]:
                counts[n] += 1

        readers = [asyncio.create_task(read(n)) for n in range(watchers)]
        try:
            yield counts
        finally:
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers)


async def _raw_inserts(mongo_uri: str, messages: int, concurrency: int) -> float:
    client = AsyncMongoClient(mongo_uri)
    collection = client["bench_raw"][f"messages_{uuid.uuid4().hex[:6]}"]
    counter = iter(range(messages))

    async def worker() -> None:
        for n in counter:
            await collection.insert_one(
                {"channel": "chat", "external_id": str(n), "text": f"Hello, this is message {n}", "n": n}
            )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.drop_database("bench_raw")
    await client.close()
    return messages / elapsed


class _Unpublished:
    """The replay's realtime publisher: like a hub on change streams, it publishes nothing."""

    needs_publishing = False

    def publish(self, event_type: str, record: dict) -> None:
        pass


async def _replay(mongo_uri: str, since, server_cpu) -> tuple[float, float, int, float]:
    """The hub's ingest writes since `since`, replayed batch by batch into a fresh database:
    (messages per second, server CPU seconds per message, batches, mean batch size)."""
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri, tz_aware=True)
    source, target = client[BENCH_DB], client[f"bench_replay_{uuid.uuid4().hex[:6]}"]
    try:
        await ensure_indexes(target)
        commits = (
            await source.events.find(
                {"at": {"$gte": since}, "events.type": "message.received"}, {"events.message_id": 1}
            )
            .sort("_id", 1)
            .to_list(None)
        )
        batches = [[event["message_id"] for event in commit["events"]] for commit in commits]
        ids = [message_id for batch in batches for message_id in batch]
        messages = {m["_id"]: m for m in await source.messages.find({"_id": {"$in": ids}}).to_list(None)}
        conversation_ids = list({m["conversation_id"] for m in messages.values()})
        conversations = await source.conversations.find({"_id": {"$in": conversation_ids}}).to_list(None)
        routes = {c["_id"]: c.get("route", {}) for c in conversations}
        await target.conversations.insert_many(conversations)  # as they stand: the replay updates them
        repository = Conversations(target, _Unpublished(), EventLog(target), TermSearch(target))
        pristine = {"nlp": {"status": "pending"}}
        before, started = server_cpu(), time.perf_counter()
        for batch in batches:
            writes = [
                InboundWrite(
                    messages[i]["conversation_id"],
                    {**messages[i], **pristine},
                    routes[messages[i]["conversation_id"]],
                )
                for i in batch
            ]
            await repository.add_inbound(writes)
        elapsed = time.perf_counter() - started
        cpu = (server_cpu() - before) / max(1, len(ids))
        return len(ids) / elapsed, cpu, len(batches), len(ids) / max(1, len(batches))
    finally:
        await client.drop_database(target.name)
        await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--senders", type=int, default=500)
    parser.add_argument("--watchers", type=int, default=0, help="agents with the realtime stream open")
    parser.add_argument("--url", help="a running hub (needs --mongo-uri and HUB_CHAT_SECRET=bench-secret)")
    parser.add_argument("--mongo-uri")
    parser.add_argument("--hub-pid", type=int)
    parser.add_argument("--database-pid", type=int, help="the database server's, for its CPU per message")
    parser.add_argument(
        "--hub-uri-options", default="", help='appended to the hub\'s URI, e.g. "&maxPoolSize=2"'
    )
    args = parser.parse_args()

    if args.url:
        await _measure(args, args.url, args.mongo_uri, args.hub_pid, args.database_pid)
        return
    # The NLP worker is off: this measures ingest alone (bench/nlp.py measures classification).
    env = {"HUB_NLP_WORKER": "off"}
    if args.watchers:
        env |= {"HUB_ADMIN_EMAIL": ADMIN, "HUB_ADMIN_PASSWORD": PASSWORD}
    async with running_hub(args.hub_uri_options, **env) as hub:
        await _measure(args, hub.url, hub.mongo_uri, hub.pid, hub.database_pid)


async def _measure(
    args: argparse.Namespace, url: str, mongo_uri: str, hub_pid: int | None, database_pid: int | None
) -> None:
    # The server's CPU time per document is steadier than the rates, which follow the disk's
    # fsync latency: it tells whether a change made the server's work per message smaller.
    def server_cpu() -> float:
        return cpu_seconds(database_pid) if database_pid else float("nan")

    # Raw first, while the server is as fresh as it was for the hub's warm-up.
    before = server_cpu()
    raw = await _raw_inserts(mongo_uri, args.messages, args.concurrency)
    raw_cpu = (server_cpu() - before) / args.messages
    await _drive_hub(url, min(500, args.messages), args.concurrency, args.senders)  # warm-up
    async with _watching(url, args.watchers) as events:
        before, since = server_cpu(), utcnow()
        rate, latencies = await _drive_hub(url, args.messages, args.concurrency, args.senders)
        hub_cpu = (server_cpu() - before) / args.messages
    replay, replay_cpu, batches, batch_size = await _replay(mongo_uri, since, server_cpu)
    peak_rss = peak_rss_mb(hub_pid) if hub_pid else None
    ms = [x * 1000 for x in latencies]
    print(f"messages: {args.messages}  concurrency: {args.concurrency}  senders: {args.senders}  "
          f"watchers: {args.watchers}")  # fmt: skip
    print(f"hub ingest: {rate:8.0f} msg/s")
    p50, p95, p99 = statistics.median(ms), _percentile(ms, 95), _percentile(ms, 99)
    print(f"ack latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}")
    print(
        f"replay of the hub's writes: {replay:8.0f} msg/s ({batches} batches, {batch_size:.1f} messages each)"
    )
    print(f"ratio hub/replay: {rate / replay:.2f}")
    print(f"raw insert_one: {raw:8.0f} docs/s")
    print(f"ratio hub/raw: {rate / raw:.2f}")
    if database_pid:
        print(
            f"server CPU: {hub_cpu * 1000:.2f} ms per message, {replay_cpu * 1000:.2f} ms per replayed "
            f"message (ratio {replay_cpu / hub_cpu:.2f}), {raw_cpu * 1000:.2f} ms per raw insert"
        )
    if events:
        print(f"events pushed to each watcher: {min(events)}-{max(events)}")
    if peak_rss is not None:
        print(f"hub peak RSS: {peak_rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
