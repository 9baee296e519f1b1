"""Chaos run: signed chat webhooks from many customers while the hub is killed with SIGKILL
(and restarted) and the embedded database is killed (and restarted by its supervisor); then
checks that nothing acknowledged was lost, stored twice or hidden, and that the inbox counts'
totals (kept by a listener from events) match the conversations.

    .venv/bin/python bench/chaos.py [--customers 200] [--messages 5] [--hub-kills 3]

Prints what happened and the checks; exits 1 if a check fails. Asserts nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import aiohttp
from pymongo import AsyncMongoClient

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import SECRET, free_port, hub_env  # noqa: E402
from channels.base import hmac_sha256_signature  # noqa: E402
from crm_core.inbox_counts import TOTALS_ID, UNASSIGNED, InboxCounts  # noqa: E402
from hub.embedded import EmbeddedServer  # noqa: E402


class Hub:
    def __init__(self, mongo_uri: str, data: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = hub_env(mongo_uri, self.port, HUB_LOG_LEVEL="ERROR", HUB_NLP_WORKER="off")
        self.data = data
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub", "serve", env=self.env, cwd=self.data
        )

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


async def _deliver(http: aiohttp.ClientSession, url: str, payload: dict, stats: dict) -> dict:
    body = json.dumps(payload).encode()
    headers = {"X-Hub-Signature-256": hmac_sha256_signature(SECRET, body)}
    while True:
        try:
            async with http.post(f"{url}/webhooks/chat", data=body, headers=headers) as resp:
                if resp.status in (200, 201):
                    return await resp.json()
                stats[f"http {resp.status}"] = stats.get(f"http {resp.status}", 0) + 1
        except (aiohttp.ClientError, TimeoutError):
            stats["connection errors"] = stats.get("connection errors", 0) + 1
        await asyncio.sleep(0.1)


async def _settled_totals(db, timeout: float = 60) -> dict | None:
    """The inbox counts' totals once the hub's listener has handled every event owed to it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await db.events.find_one({"pending": InboxCounts.name}, {"_id": 1}):
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(0.2)
    found = await db.inbox_totals.find_one({"_id": TOTALS_ID})
    return found and found["started"]


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--hub-kills", type=int, default=3)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="hub-chaos-")
    server = EmbeddedServer(Path(data) / "db")
    mongo_uri = await server.start()
    hub = Hub(mongo_uri, data)
    await hub.start()
    run, stats, acked = uuid.uuid4().hex[:6], {}, []
    progress = asyncio.Condition()

    async def customer(n: int, http: aiohttp.ClientSession) -> None:
        for m in range(args.messages):
            payload = {"external_id": f"{run}-{n}-{m}", "sender": {"id": f"c-{n}"}, "text": f"message {m}"}
            acked.append(await _deliver(http, hub.url, payload, stats))
            async with progress:
                progress.notify_all()

    total = args.customers * args.messages
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        load = asyncio.gather(*(customer(n, http) for n in range(args.customers)))
        for kill in range(args.hub_kills + 1):
            target = total * (kill + 1) // (args.hub_kills + 3)
            async with progress:
                await progress.wait_for(lambda target=target: len(acked) >= target)
            if kill < args.hub_kills:
                await hub.kill()
                await hub.start()
                print(f"hub SIGKILLed and restarted after {len(acked)} acks")
            else:
                os.kill(server.pid, signal.SIGKILL)
                print(f"database SIGKILLed after {len(acked)} acks (its supervisor restarts it)")
        await load
    client = AsyncMongoClient(mongo_uri)
    db = client.bench
    totals = await _settled_totals(db)
    await hub.kill()

    stored = await db.messages.count_documents({"direction": "in"})
    distinct = len(await db.messages.distinct("external_id"))
    bad = 0
    async for conversation in db.conversations.find({}):
        messages = await db.messages.find({"conversation_id": conversation["_id"]}).to_list(None)
        newest = max(messages, key=lambda m: (m["created_at"], m["_id"]), default=None)
        if conversation["message_count"] != len(messages) or (
            newest and conversation.get("last_message", {}).get("id") != newest["_id"]
        ):
            bad += 1
    by_hand = await db.conversations.aggregate(
        [{"$match": {"message_count": {"$gt": 0}}}, {"$group": {"_id": "$assignee_id", "n": {"$sum": 1}}}]
    )
    counted = {str(row["_id"] or UNASSIGNED): row["n"] async for row in by_hand}
    await client.close()
    await server.stop()
    checks = {
        "acknowledged": len(acked) == total,
        "each stored once": stored == distinct == total,
        "every conversation reflects its messages": bad == 0,
        "the inbox totals match the conversations": totals == counted,
    }
    print(f"messages: {total}  acked: {len(acked)}  stored: {stored}  distinct: {distinct}  "
          f"conversations out of step: {bad}  database restarts: {server.restarts}")  # fmt: skip
    print("retries seen: " + ", ".join(f"{k} x{v}" for k, v in sorted(stats.items())))
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
