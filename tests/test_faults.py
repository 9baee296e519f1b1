"""Faults: the embedded database killed under load is restarted, and nothing the hub
acknowledged is lost, stored twice or hidden from the inbox."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

import aiohttp
from bson import ObjectId

from crm_core.records import utcnow
from crm_core.reporting import Period
from tests.conftest import Hub, chat_message, eventually


def _database_pid(data_dir: Path) -> int:
    """The embedded server the hub started for `data_dir` (found by its storage path)."""
    storage = str(data_dir / "db")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"secantusd" in arg for arg in argv[:2]) and storage.encode() in argv:
                return int(entry.name)
    raise AssertionError(f"no embedded server runs on {storage}")


async def _deliver(hub: Hub, payload: dict, deadline: float) -> dict:
    """Post like a channel does: retry on 5xx or a dropped connection until acknowledged."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            resp = await hub.chat(payload)
            if resp.status in (200, 201):
                return await resp.json()
            assert resp.status == 503, f"{resp.status}: {await resp.text()}"
        except aiohttp.ClientError:
            pass
        assert loop.time() < deadline, "not acknowledged before the deadline"
        await asyncio.sleep(0.05)


async def test_a_killed_database_restarts_and_every_acked_message_shows_in_its_conversation(
    make_hub, tmp_path
):
    hub = await make_hub(mongo_uri=None, data_dir=tmp_path, mongo_timeout_ms=1000)
    deadline = asyncio.get_running_loop().time() + 120
    senders = [f"customer-{n}" for n in range(40)]
    firsts = [await _deliver(hub, chat_message("first", sender={"id": s}), deadline) for s in senders]
    await hub.db.conversations.update_many({}, {"$set": {"status": "resolved"}})
    acked: list[dict] = []

    async def some_acked() -> bool:
        return len(acked) >= 20

    async def customer(sender: str) -> None:
        for n in range(4):
            acked.append(await _deliver(hub, chat_message(f"again {n}", sender={"id": sender}), deadline))

    load = asyncio.gather(*(customer(s) for s in senders))
    await eventually(some_acked, timeout=30)
    os.kill(_database_pid(tmp_path), signal.SIGKILL)
    await eventually(lambda: _readyz(hub, 503), timeout=10)
    await load
    assert (await hub.call("GET", "/readyz"))[0] == 200

    ids = [a["id"] for a in acked]
    assert len(set(ids)) == len(ids) == 160
    stored = await hub.db.messages.count_documents({"direction": "in"})
    assert stored == 200  # each acknowledged message once, nothing else
    for first in firsts:
        conversation = await hub.db.conversations.find_one({"_id": ObjectId(first["conversation_id"])})
        messages = await hub.db.messages.find({"conversation_id": conversation["_id"]}).to_list(None)
        newest = max(messages, key=lambda m: (m["created_at"], m["_id"]))
        assert conversation["message_count"] == len(messages) == 5
        assert conversation["status"] == "open"
        assert conversation["last_message"]["id"] == newest["_id"]


async def _readyz(hub: Hub, status: int) -> bool:
    return (await hub.call("GET", "/readyz"))[0] == status


async def test_a_conversation_left_empty_by_a_failed_first_ingest_stays_out_of_sight(hub):
    """The contact and conversation are made before the message; if the message never
    commits, the inbox, counts and reports do not show the empty conversation, and the
    channel's retry fills that same conversation."""
    contact_id = await hub.services.contacts.resolve("chat", "customer-9", name="Nine")
    await hub.services.conversations.thread_for_inbound(
        "chat", "customer-9\x1fdefault", contact_id, route={}, subject=None, at=utcnow()
    )
    token = await hub.login("agent")
    status, page = await hub.call("GET", "/api/v1/conversations?status=open", token)
    assert status == 200 and page["items"] == []
    assert (await hub.services.reports.summary(_today()))["figures"]["conversations_open"] == 0

    resp = await hub.chat(chat_message("now it arrives", sender={"id": "customer-9"}))
    assert resp.status == 201
    status, page = await hub.call("GET", "/api/v1/conversations?status=open", token)
    assert [c["message_count"] for c in page["items"]] == [1]
    assert await hub.db.conversations.count_documents({}) == 1


def _today() -> Period:
    now = utcnow()
    return Period(now - timedelta(days=1), now + timedelta(minutes=1))
