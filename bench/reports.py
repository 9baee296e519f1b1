"""Times the reports summary (the numbers behind /stats and /api/v1/reports/summary) over a
large dataset: by default 100k conversations and 1M messages spread over 60 days.

    .venv/bin/python bench/reports.py [--conversations 100000] [--messages 1000000] [--mongo-uri URI]

Without --mongo-uri it starts an embedded database on disk. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bson import ObjectId
from pymongo import AsyncMongoClient

from crm_core.indexes import ensure_indexes
from crm_core.reporting import Period, Reports
from crm_core.rollups import Rollups
from hub.channel_plugins import CHANNELS
from hub.embedded import EmbeddedServer

INTENTS = ("support_request", "billing", "sales_inquiry", "complaint", "greeting", "feedback")
BATCH = 10_000


def events(conversations: int, messages: int, days: int):
    """The domain events of that much traffic, in batches: each conversation opens with an
    inbound message, gets a first response, 60% are resolved; messages spread over them."""
    rng = random.Random(7)
    end = datetime.now(UTC)
    threads = []
    batch: list[dict] = []
    for _ in range(conversations):
        created = end - timedelta(seconds=rng.uniform(0, days * 86400))
        conversation = {"conversation_id": ObjectId(), "channel": rng.choice(CHANNELS)}
        threads.append((conversation, created))
        first_response = rng.expovariate(1 / 1800)
        batch += [
            _event("message.received", created, conversation, opens=True),
            _event(
                "message.sent",
                created + timedelta(seconds=first_response),
                conversation,
                agent_id="agent-1",
                first_response_seconds=first_response,
                intent=rng.choice(INTENTS),
            ),
        ]
        if rng.random() < 0.6:
            resolution = rng.expovariate(1 / (8 * 3600))
            batch.append(
                _event(
                    "conversation.status_changed",
                    created + timedelta(seconds=resolution),
                    conversation,
                    status={"from": "open", "to": "resolved"},
                    resolution_seconds=resolution,
                    intent=rng.choice(INTENTS),
                    agent_id="agent-1",
                )
            )
        if len(batch) >= BATCH:
            yield batch
            batch = []
    for n in range(max(0, messages - 2 * conversations)):
        conversation, created = threads[n % len(threads)]
        at = created + timedelta(minutes=rng.uniform(0, 600))
        if rng.random() < 0.55:
            batch += [
                _event("message.received", at, conversation),
                _event("message.classified", at, conversation, intent=rng.choice(INTENTS)),
            ]
        else:
            batch.append(_event("message.sent", at, conversation, agent_id="agent-1"))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _event(kind: str, at: datetime, conversation: dict, **data) -> dict:
    return {"_id": ObjectId(), "type": kind, "at": at, **conversation, **data}


async def fill(db, rollups: Rollups, conversations: int, messages: int, days: int) -> int:
    """Store the events and roll them up with the listener's own code; returns how many."""
    count = 0
    for batch in events(conversations, messages, days):
        # Stored as the hub stores them: commit records of several events (here 30 each).
        commits = [{"_id": ObjectId(), "at": batch[i]["at"], "events": batch[i : i + 30], "pending": []}
                   for i in range(0, len(batch), 30)]  # fmt: skip
        await db.events.insert_many(commits)
        await rollups.handle(batch, None)
        count += len(batch)
    return count


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mongo-uri")
    args = parser.parse_args()

    server = None
    uri = args.mongo_uri
    if uri is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="hub-bench-reports-")) / "db", cache_size="2G")
        uri = await server.start()
    client = AsyncMongoClient(uri, tz_aware=True)
    db = client["bench_reports"]
    try:
        await client.drop_database("bench_reports")
        await ensure_indexes(db)
        started = time.perf_counter()
        rollups = Rollups(db, "UTC")
        stored = await fill(db, rollups, args.conversations, args.messages, args.days)
        print(
            f"filled {args.conversations} conversations, {args.messages} messages "
            f"({stored} events, {await db.rollups.count_documents({})} roll-ups) in "
            f"{time.perf_counter() - started:.0f} s"
        )
        reports = Reports(db, rollups)
        end = datetime.now(UTC)
        for label, span in (
            ("today", timedelta(days=1)),
            ("week", timedelta(days=7)),
            ("month", timedelta(days=30)),
        ):
            timings = []
            for _ in range(args.runs):
                began = time.perf_counter()
                summary = await reports.summary(Period(end - span, end))
                timings.append((time.perf_counter() - began) * 1000)
            figures = summary["figures"]
            took = f"median {statistics.median(timings):7.0f} ms (min {min(timings):.0f} ms)"
            counted = (
                f"{figures['conversations_new']} new conversations, {figures['messages_in']} messages in"
            )
            print(f"summary {label:5}: {took}; {counted}")
    finally:
        await client.drop_database("bench_reports")
        await client.close()
        if server is not None:
            await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
