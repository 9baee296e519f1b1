"""What the benchmarks share: a hub process (`python -m hub serve`) on an embedded database on
disk, started and stopped around a run, and its peak memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from channels.base import hmac_sha256_signature
from hub.embedded import EmbeddedServer

SECRET = "bench-secret"
BENCH_DB = "bench"  # the database a bench hub uses
ADMIN, PASSWORD = "bench-admin@hub.local", "bench-password-1"  # HUB_ADMIN_* when a bench signs in
# A hub a bench signs in to, with the NLP worker off (bench/nlp.py measures classification).
SIGNED_IN_HUB_ENV = {"HUB_NLP_WORKER": "off", "HUB_ADMIN_EMAIL": ADMIN, "HUB_ADMIN_PASSWORD": PASSWORD}


@dataclass
class RunningHub:
    url: str
    pid: int
    mongo_uri: str
    database_pid: int | None


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user and system (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hub_env(mongo_uri: str, port: int, **env: str) -> dict[str, str]:
    """A bench hub's environment: this database (database name `bench`), the bench secret,
    quiet logs, and `env` on top."""
    return {**os.environ, "HUB_MONGO_URI": mongo_uri, "HUB_CHAT_SECRET": SECRET, "HUB_PORT": str(port),
            "HUB_MONGO_DB": BENCH_DB, "HUB_LOG_LEVEL": "WARNING", **env}  # fmt: skip


@contextlib.asynccontextmanager
async def running_hub(
    uri_options: str = "", log: Path | None = None, **env: str
) -> AsyncIterator[RunningHub]:
    """An embedded database in a temporary folder and a hub on a free port, ready to serve (its
    log written to `log` when given)."""
    data = tempfile.mkdtemp(prefix="hub-bench-")
    server = EmbeddedServer(Path(data) / "db")
    mongo_uri = await server.start()
    port = free_port()
    hub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "serve", env=hub_env(mongo_uri + uri_options, port, **env), cwd=data,
        stderr=log.open("wb") if log else None,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"{url}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        yield RunningHub(url, hub.pid, mongo_uri, server.pid)
    finally:
        hub.terminate()
        await asyncio.wait_for(hub.wait(), 30)
        await server.stop()


async def post(http: aiohttp.ClientSession, url: str, sender: str, text: str) -> dict[str, Any]:
    """A signed chat message; the hub's answer (the stored message's `id`, `conversation_id`)."""
    body = json.dumps(
        {"external_id": uuid.uuid4().hex, "sender": {"id": sender, "name": sender}, "text": text}
    )
    headers = {"X-Hub-Signature-256": hmac_sha256_signature(SECRET, body.encode())}
    async with http.post(f"{url}/webhooks/chat", data=body, headers=headers) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"hub answered {resp.status}")
        return await resp.json()


async def fill(
    url: str,
    conversations: int,
    concurrency: int = 32,
    rate: float | None = None,
    acked: Callable[[dict[str, Any]], None] = lambda answer: None,
) -> float:
    """One message from each of `conversations` new customers, `concurrency` at a time, as fast
    as the hub takes them or, with `rate`, the n-th sent no sooner than n / rate seconds in;
    `acked` is told each answer as it arrives. Returns the seconds it took."""
    started = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(conversations):
        queue.put_nowait(n)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                if rate is not None:
                    await asyncio.sleep(started + n / rate - time.perf_counter())
                acked(await post(http, url, f"customer-{n}", f"Hello, question {n} about order #{n}"))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started
