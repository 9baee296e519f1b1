"""An attacker's session against one hub, as the hostile-input issues measured it: concurrent
password guesses, the realtime stream's roles and sessions, non-JSON numbers, webhooks sent
JSON that is no object, bodies that never arrive and clients that leave, search cost, CSV for
semicolon locales. Prints what each probe got and the hub's log lines at warning and above.

    .venv/bin/python bench/adversary.py [--slow-bodies 200] [--burst 120]

Asserts nothing; every figure is printed for bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
from bson import ObjectId
from pymongo import AsyncMongoClient
from slack_sdk.signature import SignatureVerifier

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, BENCH_DB, PASSWORD, SIGNED_IN_HUB_ENV, post, running_hub  # noqa: E402

SLACK_SECRET = "bench-slack-secret"
HUB_ENV = {
    **SIGNED_IN_HUB_ENV,
    "HUB_LOG_LEVEL": "INFO",
    "HUB_WIDGET_SECRET": "bench-widget",
    "HUB_SLACK_BOT_TOKEN": "xoxb-bench",
    "HUB_SLACK_SIGNING_SECRET": SLACK_SECRET,
    "HUB_SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing listens: never reached unsigned
    "HUB_HTTP_BODY_SECONDS": "5",
}
SEARCH = "/api/v1/conversations?q=probe%20xq"


def report(name: str, figure: object) -> None:
    print(f"{name:58} {figure}")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Probe:
    def __init__(self, url: str, http: aiohttp.ClientSession, db) -> None:
        self.url, self.http, self.db = url, http, db
        self.admin = ""

    async def token(self, role: str) -> tuple[str, str]:
        """A new user of `role`: their token and id."""
        body = {"email": f"{role}-{uuid.uuid4().hex[:6]}@bench.example", "password": PASSWORD, "role": role}
        async with self.http.post(f"{self.url}/api/v1/users", json=body, headers=_bearer(self.admin)) as resp:
            user = await resp.json()
        return await self.sign_in(body["email"]), user["id"]

    async def sign_in(self, email: str) -> str:
        body = {"email": email, "password": PASSWORD}
        async with self.http.post(f"{self.url}/api/v1/auth/login", json=body) as resp:
            return (await resp.json())["token"]

    async def status(self, method: str, path: str, **kwargs) -> int:
        async with self.http.request(method, f"{self.url}{path}", **kwargs) as resp:
            await resp.read()
            return resp.status


async def concurrent_guesses(probe: Probe) -> None:
    _, user_id = await probe.token("agent")
    victim = await probe.db.users.find_one({"_id": ObjectId(user_id)})
    body = {"email": victim["email"], "password": "guess"}
    statuses = await asyncio.gather(
        *(probe.status("POST", "/api/v1/auth/login", json=body) for _ in range(300))
    )
    report("300 guesses at once for one account", dict(Counter(statuses)))


async def stream_roles(probe: Probe) -> None:
    sockets = {}
    for role in ("agent", "sales"):
        token, _ = await probe.token(role)
        sockets[role] = await probe.http.ws_connect(f"{probe.url}/api/v1/stream", headers=_bearer(token))
        await sockets[role].receive_json()
    for collection in ("leads", "tickets", "deals"):
        await probe.db[collection].insert_one({"subject": "secret", "contact_id": ObjectId()})
    await probe.db.notifications.insert_one({"user_id": ObjectId(), "text": "someone else's"})
    marker = f"marker {uuid.uuid4().hex}"
    await post(probe.http, probe.url, "marker", marker)
    for role, ws in sockets.items():
        seen = set()
        while (event := await ws.receive_json(timeout=10))["data"].get("text") != marker:
            seen.add(event["type"])
        await ws.close()
        report(f"stream events a(n) {role} received besides the marker", sorted(seen) or "none")


async def stream_sessions(probe: Probe) -> None:
    token, _ = await probe.token("agent")
    ws = await probe.http.ws_connect(f"{probe.url}/api/v1/stream?access_token={token}")
    await ws.receive_json()
    started = time.perf_counter()
    await probe.status("POST", "/api/v1/auth/logout", headers=_bearer(token))
    try:
        message = await ws.receive(timeout=15)
        outcome = f"{ws.close_code} {message.type.name}, {time.perf_counter() - started:.3f} s"
    except TimeoutError:
        outcome = "still open after 15 s"
    report("stream after sign-out: closed with code, after", outcome)
    await ws.close()
    token, _ = await probe.token("agent")
    url = f"{probe.url}/api/v1/stream?access_token={token}"
    opened, refused = [], Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as sockets:
        for _ in range(2000):
            try:
                opened.append(await sockets.ws_connect(url))
            except aiohttp.WSServerHandshakeError as exc:
                refused[exc.status] += 1
        report("2,000 sockets for one token: opened; refused", f"{len(opened)}; {dict(refused)}")
        for ws in opened:
            await ws.close()


async def bad_money(probe: Probe) -> None:
    manager, _ = await probe.token("manager")
    deal = {"title": "t", "stage": "new", "open": True, "value": 1.0, "currency": "EUR",
            "contact_id": ObjectId(), "owner_id": None}  # fmt: skip
    path = f"/api/v1/deals/{(await probe.db.deals.insert_one(deal)).inserted_id}"
    headers = {**_bearer(manager), "Content-Type": "application/json"}
    answers = {}
    for body in (b'{"value": Infinity}', b'{"value": NaN}', b'{"value": 1e308}', b'{"currency": "1$#"}'):
        answers[body.decode()] = await probe.status("PATCH", path, data=body, headers=headers)
    report("deal changes with non-numbers and a bad currency", answers)


async def slack_non_objects(probe: Probe) -> None:
    answers = Counter()
    for path in ("/webhooks/slack/events", "/webhooks/slack/commands"):
        for body in (b"[]", b"null", b"1", b'"x"'):
            ts = str(int(time.time()))
            signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=ts, body=body)
            signed = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
            for headers in ({}, signed):
                answers[await probe.status("POST", path, data=body, headers=headers)] += 1
    report('Slack webhooks sent []/null/1/"x", unsigned and signed', dict(answers))


async def widget_big_hello(probe: Probe) -> None:
    ws = await probe.http.ws_connect(f"{probe.url}/widget/ws")
    await ws.send_str(json.dumps({"type": "hello", "token": "x" * 17 * 1024}))
    message = await ws.receive(timeout=10)
    report("widget hello of 17 KiB", f"{message.type.name} {message.data}")
    await ws.close()


async def session_edges(probe: Probe) -> None:
    body = {"email": ADMIN, "password": PASSWORD}
    async with probe.http.post(f"{probe.url}/api/v1/auth/session", json=body) as resp:
        max_age = next(part for part in resp.headers["Set-Cookie"].split("; ") if part.startswith("Max-Age"))
        cookies = {"hub_session": resp.cookies["hub_session"].value}
        csrf = (await resp.json())["csrf_token"]
    await probe.status("POST", "/api/v1/auth/logout", cookies=cookies, headers={"X-CSRF-Token": csrf})
    after = await probe.status("GET", "/api/v1/auth/session", cookies=cookies)
    plain = await probe.status(
        "POST", "/api/v1/auth/session", data=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    upgrade = await probe.status(
        "GET", f"/api/v1/conversations?access_token={probe.admin}", headers={"Upgrade": "websocket"}
    )
    report("cookie Max-Age; session after logout; text/plain sign-in", f"{max_age}; {after}; {plain}")
    report("?access_token= on a plain route with Upgrade: websocket", upgrade)


async def csv_semicolons(probe: Probe) -> None:
    await post(probe.http, probe.url, "Bob;=1+1;@SUM(A1)", "hello")
    async with probe.http.get(f"{probe.url}/api/v1/reports/export.csv", headers=_bearer(probe.admin)) as resp:
        text = (await resp.read()).decode("utf-8-sig")
    line = next(line for line in text.splitlines() if "Bob" in line)
    report("CSV cell of the sender 'Bob;=1+1;@SUM(A1)'", line[line.index("Bob") - 1 : line.index("Bob") + 22])


async def slow_bodies(probe: Probe, count: int) -> None:
    host, port = probe.url.removeprefix("http://").split(":")
    head = b"POST /webhooks/chat HTTP/1.1\r\nHost: hub\r\nContent-Length: 1000000\r\n\r\n{"
    started = time.perf_counter()
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head)
        connections.append((reader, writer))
    healthz = time.perf_counter()
    await probe.status("GET", "/healthz")
    healthz = time.perf_counter() - healthz
    answers = Counter()
    for reader, writer in connections:
        answer = await asyncio.wait_for(reader.read(), 120)
        answers[answer[:12].decode(errors="replace")] += 1
        writer.close()
    took = time.perf_counter() - started
    report(f"{count} bodies that never arrive: answers; all closed after",
           f"{dict(answers)}; {took:.1f} s (/healthz meanwhile {healthz * 1000:.0f} ms)")  # fmt: skip
    for _ in range(count):  # and as many clients that leave mid-body
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /webhooks/chat HTTP/1.1\r\nHost: hub\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()


async def search(probe: Probe, burst: int) -> None:
    for n in range(burst):
        for m in range(5):
            await post(probe.http, probe.url, f"customer-{n}", f"burst probe xq {n} {m}")
    newest = await probe.db.conversations.find({}, {"_id": 1}).sort("last_message_at", -1).to_list(40)
    found, cursor = [], None
    while True:
        query = "q=burst&limit=100" + (f"&cursor={cursor}" if cursor else "")
        async with probe.http.get(
            f"{probe.url}/api/v1/conversations?{query}", headers=_bearer(probe.admin)
        ) as r:
            page = await r.json()
        found += [row["id"] for row in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    newest_found = len({str(c["_id"]) for c in newest} & set(found))
    report(f"q=burst over {burst} conversations ({burst * 5} messages)",
           f"found {len(found)}, of the newest 40: {newest_found}")  # fmt: skip
    times = []
    for _ in range(10):
        started = time.perf_counter()
        await probe.status("GET", SEARCH, headers=_bearer(probe.admin))
        times.append(time.perf_counter() - started)
    report("q=probe xq, p50 of 10", f"{statistics.median(times) * 1000:.0f} ms")
    colleague, _ = await probe.token("agent")
    started = time.perf_counter()
    statuses = await asyncio.gather(
        *(probe.status("GET", SEARCH, headers=_bearer(probe.admin)) for _ in range(20)),
        probe.status("GET", "/api/v1/conversations?status=open", headers=_bearer(colleague)),
    )
    report("20 searches at once by one user, and a colleague's inbox",
           f"{dict(Counter(statuses))} in {time.perf_counter() - started:.2f} s")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow-bodies", type=int, default=200)
    parser.add_argument("--burst", type=int, default=120)
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="hub-adversary-")) / "hub.log"
    async with running_hub(log=log, **HUB_ENV) as hub, aiohttp.ClientSession() as http:
        probe = Probe(hub.url, http, AsyncMongoClient(hub.mongo_uri)[BENCH_DB])
        probe.admin = await probe.sign_in(ADMIN)
        for step in (stream_roles, stream_sessions, bad_money, slack_non_objects, widget_big_hello,
                     session_edges, csv_semicolons):  # fmt: skip
            await step(probe)
        await slow_bodies(probe, args.slow_bodies)
        await search(probe, args.burst)
        await concurrent_guesses(probe)  # last: before the fix it locked this address out
        async with http.get(f"{hub.url}/metrics") as resp:
            counted = [
                line
                for line in (await resp.text()).splitlines()
                if line.startswith("hub_http_requests_total")
            ]
    report("5xx answers counted", [line for line in counted if "5xx" in line] or "none")
    lines = log.read_text().splitlines()
    loud = [line for line in lines if '"level": "warning"' in line or '"level": "error"' in line]
    report("hub log: lines; at warning or above; bytes", f"{len(lines)}; {len(loud)}; {log.stat().st_size}")
    for line in loud[:5]:
        print("   ", line[:200])


if __name__ == "__main__":
    asyncio.run(main())
