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
from hub.embedded import EmbeddedServer

CHANNELS = ("chat", "email", "webchat", "telegram", "slack")
INTENTS = ("support_request", "billing", "sales_inquiry", "complaint", "greeting", "feedback")
BATCH = 10_000


async def fill(db, conversations: int, messages: int, days: int) -> None:
    rng = random.Random(7)
    end = datetime.now(UTC)
    ids = []
    batch = []
    for _ in range(conversations):
        created = end - timedelta(seconds=rng.uniform(0, days * 86400))
        resolved = rng.random() < 0.6
        doc = {
            "_id": ObjectId(),
            "channel": rng.choice(CHANNELS),
            "contact_id": ObjectId(),
            "thread_key": str(ObjectId()),
            "status": "resolved" if resolved else rng.choice(("open", "pending")),
            "created_at": created,
            "last_message_at": created + timedelta(hours=rng.uniform(0, 48)),
            "first_response_at": created + timedelta(minutes=rng.expovariate(1 / 30)),
            "message_count": 0,
        }
        if resolved:
            doc["resolved_at"] = created + timedelta(hours=rng.expovariate(1 / 8))
        ids.append((doc["_id"], doc["channel"], created))
        batch.append(doc)
        if len(batch) == BATCH:
            await db.conversations.insert_many(batch)
            batch = []
    if batch:
        await db.conversations.insert_many(batch)
    batch = []
    for n in range(messages):
        conversation_id, channel, created = ids[n % len(ids)]
        inbound = rng.random() < 0.55
        batch.append(
            {
                "conversation_id": conversation_id,
                "channel": channel,
                "direction": "in" if inbound else "out",
                "kind": "message",
                "text": "bench",
                "nlp": {"status": "done", "intent": rng.choice(INTENTS)}
                if inbound
                else {"status": "skipped"},
                "created_at": created + timedelta(minutes=rng.uniform(0, 600)),
            }
        )
        if len(batch) == BATCH:
            await db.messages.insert_many(batch)
            batch = []
    if batch:
        await db.messages.insert_many(batch)


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
        await fill(db, args.conversations, args.messages, args.days)
        print(
            f"filled {args.conversations} conversations, {args.messages} messages in "
            f"{time.perf_counter() - started:.0f} s"
        )
        reports = Reports(db)
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
