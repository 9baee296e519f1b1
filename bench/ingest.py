"""Ingest benchmark: signed chat webhooks against a real hub on loopback, compared with raw
`insert_one` throughput of the same driver against the same database server.

    .venv/bin/python bench/ingest.py [--messages 5000] [--concurrency 32] [--senders 500]

Starts an embedded database on disk and a hub process (`python -m hub serve`) pointed at it,
or uses --url/--mongo-uri/--hub-pid for a hub you started yourself. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from pymongo import AsyncMongoClient

from channels.base import hmac_sha256_signature
from hub.embedded import EmbeddedServer

SECRET = "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--senders", type=int, default=500)
    parser.add_argument("--url", help="a running hub (needs --mongo-uri and HUB_CHAT_SECRET=bench-secret)")
    parser.add_argument("--mongo-uri")
    parser.add_argument("--hub-pid", type=int)
    parser.add_argument(
        "--hub-uri-options", default="", help='appended to the hub\'s URI, e.g. "&maxPoolSize=2"'
    )
    args = parser.parse_args()

    server = hub = None
    url, mongo_uri, hub_pid = args.url, args.mongo_uri, args.hub_pid
    if url is None:
        data = tempfile.mkdtemp(prefix="hub-bench-")
        server = EmbeddedServer(Path(data) / "db")
        mongo_uri = await server.start()
        hub_uri = mongo_uri + args.hub_uri_options
        port = _free_port()
        env = {**os.environ, "HUB_MONGO_URI": hub_uri, "HUB_CHAT_SECRET": SECRET, "HUB_PORT": str(port),
               "HUB_MONGO_DB": "bench", "HUB_LOG_LEVEL": "WARNING"}  # fmt: skip
        hub = await asyncio.create_subprocess_exec(sys.executable, "-m", "hub", "serve", env=env, cwd=data)
        hub_pid, url = hub.pid, f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{url}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
    try:
        # Raw first, while the server is as fresh as it was for the hub's warm-up.
        raw = await _raw_inserts(mongo_uri, args.messages, args.concurrency)
        await _drive_hub(url, min(500, args.messages), args.concurrency, args.senders)  # warm-up
        rate, latencies = await _drive_hub(url, args.messages, args.concurrency, args.senders)
        peak_rss = _peak_rss_mb(hub_pid) if hub_pid else None
    finally:
        if hub is not None:
            hub.terminate()
            await asyncio.wait_for(hub.wait(), 30)
        if server is not None:
            await server.stop()
    ms = [x * 1000 for x in latencies]
    print(f"messages: {args.messages}  concurrency: {args.concurrency}  senders: {args.senders}")
    print(f"hub ingest: {rate:8.0f} msg/s")
    p50, p95, p99 = statistics.median(ms), _percentile(ms, 95), _percentile(ms, 99)
    print(f"ack latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}")
    print(f"raw insert_one: {raw:8.0f} docs/s")
    print(f"ratio hub/raw: {rate / raw:.2f}")
    if peak_rss is not None:
        print(f"hub peak RSS: {peak_rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
