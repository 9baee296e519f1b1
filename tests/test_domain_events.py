"""Domain events and their listeners: recorded with the change, handled once per listener
across processes and crashes, retried and parked when failing, replayable; the roll-ups
built from them agree with the records."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from channels.base import hmac_sha256_signature
from crm_core.domain_events import EVENT_TYPES, EventLog, events_of
from crm_core.tickets import Tickets
from hub.listeners import MAX_ATTEMPTS, ListenerLoop, LostLease
from hub.metrics import Metrics
from tests.conftest import (
    CHAT_SECRET,
    all_events_handled,
    chat_message,
    eventually,
    start_hub_process,
    stop_hub_process,
    unsure_analysis,
)
from tests.mail_peers import free_port
from tests.test_reports import rebuild_rollups, rewrite_events


def received(log: EventLog, external: str) -> dict:
    """A `message.received` with every fact its class asks for, marked `external`."""
    ids = {name: ObjectId() for name in ("message_id", "conversation_id", "contact_id")}
    return log.new("message.received", channel="chat", external=external, **ids)


def opened_ticket(log: EventLog, external: str) -> dict:
    ids = {name: ObjectId() for name in ("ticket_id", "conversation_id", "contact_id")}
    return log.new(
        "ticket.opened", channel="chat", priority="high", intent="complaint", external=external, **ids
    )


async def caught_up(hub) -> None:
    await eventually(lambda: all_events_handled(hub.db), timeout=30)


async def _stored_rollups(db) -> list[dict]:
    docs = await db.rollups.find({}).sort("_id", 1).to_list(None)
    # A replay may leave a zero where nothing was counted; zeros are no figure.
    return [_without_zeros(doc) for doc in docs]


def _without_zeros(value):
    if isinstance(value, dict):
        return {k: _without_zeros(v) for k, v in value.items() if v != 0}
    return value


async def test_changes_record_their_events_with_the_change(hub):
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message("where is my order?"))).json()
    conversation = ack["conversation_id"]
    await hub.call(
        "POST", f"/api/v1/conversations/{conversation}/messages", agent, json={"text": "On its way"}
    )
    await hub.call("PATCH", f"/api/v1/conversations/{conversation}", agent, json={"status": "resolved"})
    where = {"events.conversation_id": ObjectId(conversation)}
    events = events_of(await hub.db.events.find(where).sort("_id", 1).to_list(None), EVENT_TYPES)
    assert [e["type"] for e in events] == [
        "message.received", "conversation.opened", "message.sent", "conversation.status_changed"
    ]  # fmt: skip
    received, opened, sent, resolved = events
    assert received["opens"] is True and received["message_id"] == ObjectId(ack["id"])
    assert opened["assignee_id"] is None
    assert sent["first_response_seconds"] >= 0 and sent["opens"] is False
    assert resolved["status"] == {"from": "open", "to": "resolved"}
    assert resolved["actor"]["type"] == "user" and resolved["resolution_seconds"] >= 0
    await caught_up(hub)


async def test_a_resolution_counts_on_its_day_even_when_the_conversation_reopens(hub):
    agent, manager = await hub.login("agent"), await hub.login("manager")
    ack = await (await hub.chat(chat_message("please close my account"))).json()
    conversation = ack["conversation_id"]
    await hub.call("PATCH", f"/api/v1/conversations/{conversation}", agent, json={"status": "resolved"})
    yesterday = datetime.now(UTC) - timedelta(days=1)
    # It happened yesterday: the events say so, and the roll-ups are replayed from them.
    await rewrite_events(hub.db, ObjectId(conversation), lambda event: event.update(at=yesterday))
    await rebuild_rollups(hub)
    day = yesterday.date().isoformat()

    async def resolved_on(day: str) -> int:
        _, summary = await hub.call("GET", f"/api/v1/reports/summary?from={day}", manager)
        return summary["figures"]["conversations_resolved"]

    assert await resolved_on(day) == 1
    # Today the customer is back: the agent reopens it, then resolves it again.
    await hub.call("PATCH", f"/api/v1/conversations/{conversation}", agent, json={"status": "open"})
    assert await resolved_on(day) == 1
    await hub.call("PATCH", f"/api/v1/conversations/{conversation}", agent, json={"status": "resolved"})
    today = datetime.now(UTC).date().isoformat()
    assert (await resolved_on(day), await resolved_on(today)) == (1, 1)
    _, summary = await hub.call("GET", f"/api/v1/reports/summary?from={today}", manager)
    assert summary["figures"]["conversations_reopened"] == 1
    agent_id = (await hub.call("GET", "/api/v1/auth/me", agent))[1]["id"]
    assert summary["figures"]["agents"][agent_id]["resolved"] == 1


async def test_rollups_equal_a_from_scratch_computation(hub):
    agent, manager = await hub.login("agent"), await hub.login("manager")
    conversations = []
    for n in range(12):
        ack = await (await hub.chat(chat_message(f"question {n}", sender={"id": f"c{n % 7}"}))).json()
        conversations.append(ack["conversation_id"])
    for n, conversation in enumerate(sorted(set(conversations))):
        path = f"/api/v1/conversations/{conversation}"
        await hub.call("POST", f"{path}/messages", agent, json={"text": "hello", "private": n % 3 == 0})
        if n % 2:
            await hub.call("PATCH", path, agent, json={"status": "resolved"})
    await caught_up(hub)
    kept = await _stored_rollups(hub.db)

    # Replayed from the events into empty roll-ups: the same figures.
    await rebuild_rollups(hub)
    assert await _stored_rollups(hub.db) == kept

    # And the same as counting the records themselves.
    today = datetime.now(UTC).date().isoformat()
    _, summary = await hub.call("GET", f"/api/v1/reports/summary?from={today}", manager)
    figures, db = summary["figures"], hub.db
    replies = {"kind": "message", "direction": "out"}
    assert figures["messages_in"] == await db.messages.count_documents({"direction": "in"}) == 12
    assert figures["messages_out"] == await db.messages.count_documents(replies)
    assert figures["conversations_new"] == await db.conversations.count_documents(
        {"message_count": {"$gt": 0}}
    )
    assert figures["conversations_resolved"] == await db.conversations.count_documents({"status": "resolved"})


@pytest.mark.slow  # a process of its own
async def test_two_hub_processes_and_a_kill_mid_burst_count_each_message_once(tmp_path, mongo_uri):
    """Two real hubs on one database; one is killed with SIGKILL halfway through a burst and
    started again. Every listener ends with every event handled once."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    env = {"HUB_MONGO_URI": mongo_uri, "HUB_MONGO_DB": database, "HUB_NLP_WORKER": "off",
           "HUB_LISTENER_LEASE_SECONDS": "3"}  # fmt: skip
    ports = [free_port(), free_port()]
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    processes = [await start_hub_process(f, p, **env) for f, p in zip(folders, ports, strict=True)]
    total = 120

    async def send(http: aiohttp.ClientSession, n: int) -> None:
        body = json.dumps(chat_message(f"burst {n}", external_id=f"burst-{n}", sender={"id": f"s{n % 30}"}))
        headers = {"X-Hub-Signature-256": hmac_sha256_signature(CHAT_SECRET, body.encode())}
        # Like a channel: redeliver to either hub, backing off, until one acknowledges. The
        # window covers the embedded server reaping the killed process's open transaction
        # (about a minute), which holds up writes to its conversations until then.
        deadline = asyncio.get_running_loop().time() + 150
        attempt = 0
        while asyncio.get_running_loop().time() < deadline:
            attempt += 1
            port = ports[(n + attempt) % 2]
            try:
                async with http.post(
                    f"http://127.0.0.1:{port}/webhooks/chat", data=body, headers=headers
                ) as resp:
                    if resp.status in (200, 201):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(min(1.0, 0.05 * 1.5**attempt))
        raise AssertionError(f"message {n} was never acknowledged")

    client = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[database]
    try:
        async with aiohttp.ClientSession() as http:
            burst = asyncio.gather(*(send(http, n) for n in range(total)))
            await eventually(lambda: _stored_at_least(db, total // 3), timeout=60)
            processes[0].send_signal(signal.SIGKILL)
            await processes[0].wait()
            processes[0] = await start_hub_process(folders[0], ports[0], **env)
            await burst
        # The killed process's open transaction holds up others until the server reaps it
        # (about a minute on the embedded server); the listeners catch up after that.
        await eventually(lambda: all_events_handled(db), timeout=150)
        days = await db.rollups.find({"kind": "day"}).to_list(None)
        assert sum(d.get("messages_in", 0) for d in days) == total
        assert await db.messages.count_documents({}) == total
        assert (
            sum(d.get("conversations_new", 0) for d in days)
            == await db.conversations.count_documents({})
            == 30
        )
        hours = await db.rollups.find({"kind": "hour"}).to_list(None)
        assert sum(d.get("messages_in", 0) for d in hours) == total
    finally:
        await client.close()
        for process in processes:
            if process.returncode is None:
                await stop_hub_process(process)


async def _stored_at_least(db, count: int) -> bool:
    return await db.messages.count_documents({}) >= count


class Recorder:
    """A listener for tests: remembers what it saw, fails on command."""

    types = ("message.received",)
    gather_seconds = 0.0

    def __init__(self, name: str, fail_on: str | None = None) -> None:
        self.name = name
        self.fail_on = fail_on
        self.seen: list[str] = []
        self.attempts = 0

    async def handle(self, events, session) -> None:
        for event in events:
            if event.get("external") == self.fail_on:
                self.attempts += 1
                raise RuntimeError("poisoned")
        self.seen += [e.get("external") for e in events]

    def handled(self) -> list[str]:
        """What it handled, in order. A batch whose transaction met another listener's (both
        acknowledge the same events) is rolled back and handled again: a listener's database
        writes happen once, this in-memory list may repeat."""
        return list(dict.fromkeys(self.seen))


async def test_a_failing_listener_retries_then_parks_the_event_and_others_go_on(hub):
    good, bad = Recorder("good"), Recorder("bad", fail_on="e2")
    log = EventLog(hub.db, {"good": good.types, "bad": bad.types})
    loops = [ListenerLoop(hub.db, r, Metrics(), backoff_base=0.01) for r in (good, bad)]
    # Five writes, five commit records, all waiting when the loops start: so the batches do not
    # depend on how fast the loops wake (an event alone in a batch then in a larger one is tried
    # once more).
    for n in range(5):
        await log.record([received(log, f"e{n}")])
    for loop in loops:
        loop.start()
    try:
        await eventually(lambda: asyncio.sleep(0, good.handled() == ["e0", "e1", "e2", "e3", "e4"]))
        await eventually(lambda: asyncio.sleep(0, bad.handled() == ["e0", "e1", "e3", "e4"]), timeout=10)
        assert bad.attempts == 1 + MAX_ATTEMPTS  # once in the batch of five, then alone
        parked = await hub.db.events.find_one({"events.external": "e2"})
        assert parked["parked"][0]["listener"] == "bad" and "poisoned" in parked["parked"][0]["error"]
        assert "bad" not in parked["pending"]
        # A listener added later replays the events from the start.
        late = Recorder("late")
        loop = ListenerLoop(hub.db, late, Metrics())
        assert await loop.replay(log) >= 5
        assert late.handled()[-5:] == ["e0", "e1", "e2", "e3", "e4"]
    finally:
        for loop in loops:
            await loop.stop()


async def test_a_commit_wakes_only_the_listeners_it_owes_events_and_only_once_committed(hub):
    woken: list[set[str]] = []
    log = EventLog(
        hub.db, {"counts": ["message.received"], "alerts": ["ticket.opened"]}, recorded=woken.append
    )
    async with log.transaction() as session:
        await log.record([received(log, "w1")], session)
        assert woken == []  # not before the commit: the listener would find nothing yet
    assert woken == [{"counts"}]
    try:
        async with log.transaction() as session:
            await log.record([opened_ticket(log, "w2")], session)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert woken == [{"counts"}] and await hub.db.events.count_documents({"events.external": "w2"}) == 0


class CountingLoop(ListenerLoop):
    """A listener loop that counts how often it looks for pending events."""

    looks = 0

    async def run_once(self) -> int:
        self.looks += 1
        return await super().run_once()


async def test_a_woken_listener_goes_back_to_sleep_once_caught_up(hub):
    recorder = Recorder("sleepy")
    log = EventLog(hub.db, {"sleepy": recorder.types})
    loop = CountingLoop(hub.db, recorder, Metrics())
    log.recorded = lambda names: loop.wake()
    loop.start()
    try:
        await log.record([received(log, "s1")])
        await eventually(lambda: asyncio.sleep(0, recorder.handled() == ["s1"]))
        looks = loop.looks
        await asyncio.sleep(1.0)  # a quiet second: it must not keep polling the database
        assert loop.looks - looks <= 1
        await log.record([received(log, "s2")])
        await eventually(lambda: asyncio.sleep(0, recorder.handled() == ["s1", "s2"]), timeout=1)
    finally:
        await loop.stop()


async def test_a_listener_runs_in_one_process_at_a_time(hub):
    first, second = Recorder("solo"), Recorder("solo")
    log = EventLog(hub.db, {"solo": first.types})
    for n in range(3):
        await log.record([received(log, f"s{n}")])
    a, b = ListenerLoop(hub.db, first, Metrics()), ListenerLoop(hub.db, second, Metrics())
    assert await a.lead() and not await b.lead()
    assert await a.drain() >= 3
    # A rebuild takes the lease over: the old holder's next batch, handled while its lease
    # looked fresh to it, cannot commit (acknowledging is fenced), and the new holder has it.
    assert await b.lead(force=True)
    await log.record([received(log, "s3")])
    with pytest.raises(LostLease):
        await a.run_once()
    assert await b.run_once() == 1 and second.handled() == ["s3"]
    assert not await a.lead()


async def test_changes_made_by_automation_are_audited_with_the_rule_as_actor(hub):
    manager = await hub.login("manager")
    rules = await hub.services.rules.get()
    ack = await (
        await hub.chat(chat_message("WIN A FREE PHONE, click here", sender={"id": "stranger"}))
    ).json()
    spam = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    confident = unsure_analysis("spam", 0.97) | {"confident": True}
    await hub.services.automation.act(spam, confident, rules)
    ack = await (await hub.chat(chat_message("this is the third broken order!"))).json()
    complaint = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(complaint, unsure_analysis("complaint"), rules)
    await caught_up(hub)

    query = f"/api/v1/audit?target_type=conversation&target_id={spam['conversation_id']}"
    _, trail = await hub.call("GET", query, manager)
    [resolved] = trail["items"]
    assert resolved["actor_rule"] == "labels[spam].resolve" and resolved["actor_id"] is None
    assert resolved["changes"]["status"] == {"from": "open", "to": "resolved"}
    ticket = await hub.db.tickets.find_one({"conversation_id": complaint["conversation_id"]})
    _, trail = await hub.call("GET", f"/api/v1/audit?target_type=ticket&target_id={ticket['_id']}", manager)
    assert [(e["action"], e["actor_rule"]) for e in trail["items"]] == [("ticket.opened", "tickets.intents")]


async def test_a_ticket_past_its_sla_is_recorded_breached_once_and_its_agent_told(hub):
    agent = await hub.login("agent")
    manager = await hub.login("manager")
    ack = await (await hub.chat(chat_message("my third order arrived broken again"))).json()
    complaint = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(complaint, unsure_analysis("complaint"), await hub.services.rules.get())
    ticket = await hub.db.tickets.find_one({"conversation_id": complaint["conversation_id"]})
    assert ticket["assignee_id"] is not None and await hub.services.tickets.record_sla_marks() == 0

    # Time passes: the first response was due a moment ago, and nobody answered.
    due = datetime.now(UTC) - timedelta(seconds=5)
    await hub.db.tickets.update_one({"_id": ticket["_id"]}, {"$set": {"sla.first_response_due": due}})
    hub.services.sla_watch.wake()

    async def breached():
        commits = await hub.db.events.find({"events.type": "ticket.breached"}).to_list(None)
        return events_of(commits, ["ticket.breached"])

    [event] = await eventually(breached, timeout=20)
    assert event["sla"] == "first_response" and event["ticket_id"] == ticket["_id"]
    assert abs(event["at"].replace(tzinfo=UTC) - due) < timedelta(milliseconds=1)  # dated when it happened
    assert await hub.services.tickets.record_sla_marks() == 0  # once, however often it is looked at
    await caught_up(hub)
    [note] = await hub.db.notifications.find({"kind": "ticket.breached"}).to_list(None)
    assert note["user_id"] == ticket["assignee_id"] and "first response" in note["text"]
    _, summary = await hub.call("GET", "/api/v1/reports/summary", manager)
    assert summary["figures"]["tickets_breached"] == 1
    _, listed = await hub.call("GET", "/api/v1/tickets?breached=true", agent)
    assert [t["id"] for t in listed["items"]] == [str(ticket["_id"])]


async def test_an_agent_is_warned_once_before_a_tickets_sla_breaches(hub):
    await hub.login("agent")  # the ticket's assignee
    ack = await (await hub.chat(chat_message("my third order arrived broken again"))).json()
    complaint = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(complaint, unsure_analysis("complaint"), await hub.services.rules.get())
    ticket = await hub.db.tickets.find_one({"conversation_id": complaint["conversation_id"]})
    await caught_up(hub)
    assert await hub.db.notifications.count_documents({"kind": "ticket.sla_warning"}) == 0

    # Ten minutes left and nobody has answered yet.
    due = datetime.now(UTC) + timedelta(minutes=10)
    await hub.db.tickets.update_one({"_id": ticket["_id"]}, {"$set": {"sla.first_response_due": due}})
    hub.services.sla_watch.wake()

    async def warned():
        commits = await hub.db.events.find({"events.type": "ticket.sla_warning"}).to_list(None)
        return events_of(commits, ["ticket.sla_warning"])

    [event] = await eventually(warned, timeout=20)
    assert event["sla"] == "first_response"
    assert abs(event["due_at"].replace(tzinfo=UTC) - due) < timedelta(seconds=1)
    assert await hub.services.tickets.record_sla_marks() == 0  # once
    await caught_up(hub)
    [note] = await hub.db.notifications.find({"kind": "ticket.sla_warning"}).to_list(None)
    assert note["user_id"] == ticket["assignee_id"] and note["text"].startswith("SLA about to breach")
    assert await hub.db.events.count_documents({"events.type": "ticket.breached"}) == 0

    # A ticket already late is breached, not warned.
    await hub.db.tickets.update_one(
        {"_id": ticket["_id"]}, {"$set": {"sla.resolution_due": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    assert await hub.services.tickets.record_sla_marks() == 1
    assert len(await warned()) == 1


async def test_a_reply_and_its_tickets_first_response_are_stored_together_or_not_at_all(hub, monkeypatch):
    """The first response was marked after the reply committed: a crash between the two left
    an answered ticket that the SLA watch then recorded breached."""
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message("my third order arrived broken again"))).json()
    complaint = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(complaint, unsure_analysis("complaint"), await hub.services.rules.get())
    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"

    async def killed(self, conversation_id, session):
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patched:
        patched.setattr(Tickets, "responded", killed)
        status, _ = await hub.call("POST", path, agent, json={"text": "So sorry, a new one is on its way"})
    assert status == 500
    assert await hub.db.messages.count_documents({"direction": "out", "kind": "message"}) == 0
    assert await hub.db.jobs.count_documents({}) == 0  # nothing reaches the customer either
    status, _ = await hub.call("POST", path, agent, json={"text": "So sorry, a new one is on its way"})
    assert status == 201
    ticket = await hub.db.tickets.find_one({"conversation_id": complaint["conversation_id"]})
    reply = await hub.db.messages.find_one({"direction": "out", "kind": "message"})
    assert ticket["first_response_at"] is not None and reply is not None
    past_due = datetime.now(UTC) - timedelta(seconds=5)
    await hub.db.tickets.update_one({"_id": ticket["_id"]}, {"$set": {"sla.first_response_due": past_due}})
    assert await hub.services.tickets.record_sla_marks() == 0
