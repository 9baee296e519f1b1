"""The inbox counts (per view and status) stay exact through everything that moves a
conversation between them, and through a database that has no totals yet."""

from __future__ import annotations

import asyncio
import random

from bson import ObjectId

from crm_core.inbox_counts import TOTALS_ID, InboxCounts
from crm_core.vocabularies import CONVERSATION_STATUSES
from hub.__main__ import main
from tests.conftest import all_events_handled, chat_message, eventually


async def _counted_by_hand(hub, viewer_id: str) -> dict:
    """The counts as every conversation says they are (what the endpoint must answer)."""
    views = {view: dict.fromkeys(CONVERSATION_STATUSES, 0) for view in ("mine", "unassigned", "all")}
    async for conversation in hub.db.conversations.find({"message_count": {"$gt": 0}}):
        status, assignee = conversation["status"], conversation["assignee_id"]
        views["all"][status] += 1
        if assignee is None:
            views["unassigned"][status] += 1
        elif assignee == ObjectId(viewer_id):
            views["mine"][status] += 1
    return views


async def _agent(hub) -> tuple[str, str]:
    token = await hub.login("agent")
    return token, (await hub.call("GET", "/api/v1/auth/me", token))[1]["id"]


async def _assert_exact(hub, token: str, viewer_id: str) -> dict:
    status, counts = await hub.call("GET", "/api/v1/inbox/counts", token)
    assert status == 200
    assert counts == await _counted_by_hand(hub, viewer_id)
    return counts


async def test_counts_follow_messages_replies_statuses_and_assignees_as_they_happen(hub):
    rng = random.Random(20261207)
    (me, my_id), (other, other_id) = await _agent(hub), await _agent(hub)
    tickets_rules = (await hub.services.rules.get()).tickets
    conversations: list[str] = []
    seen: set[tuple[str, str]] = set()  # (view, status) counted above zero at some step
    for step in range(120):
        roll = rng.random()
        if roll < 0.3 or not conversations:
            sender = f"customer-{rng.randrange(12)}"  # new and returning customers
            ack = await (await hub.chat(chat_message(f"question {step}", sender={"id": sender}))).json()
            if ack["conversation_id"] not in conversations:
                conversations.append(ack["conversation_id"])
        else:
            conversation = rng.choice(conversations)
            path = f"/api/v1/conversations/{conversation}"
            if roll < 0.55:
                change = {"status": rng.choice(["open", "pending", "resolved"])}
            elif roll < 0.65:
                change = {"status": "snoozed", "snoozed_until": "2099-01-01T00:00:00Z"}
            elif roll < 0.85:
                change = {"assignee_id": rng.choice([my_id, other_id, None])}
            elif roll < 0.95:
                await hub.call("POST", f"{path}/messages", me, json={"text": "On it"})
                change = None
            else:  # a ticket assigns the conversation round-robin, as automation does
                record = await hub.db.conversations.find_one({"_id": ObjectId(conversation)})
                message = await hub.db.messages.find_one({"conversation_id": record["_id"]})
                await hub.services.tickets.open_for(
                    record, message, intent="support", priority="medium", rules=tickets_rules
                )
                change = None
            if change is not None:
                status, _ = await hub.call("PATCH", path, rng.choice([me, other]), json=change)
                assert status == 200
        # Right after each change, whether the listener has handled its events or not.
        counts = await _assert_exact(hub, me, my_id)
        seen |= {(view, status) for view, by_status in counts.items() for status, n in by_status.items() if n}
    await eventually(lambda: all_events_handled(hub.db), timeout=30)
    await _assert_exact(hub, other, other_id)
    # The sequence put conversations in every view and status.
    assert seen == {
        (view, status) for view in ("mine", "unassigned", "all") for status in CONVERSATION_STATUSES
    }


async def test_counts_stay_exact_while_the_totals_listener_is_stopped(hub):
    me, my_id = await _agent(hub)
    loop = next(loop for loop in hub.services.listeners if loop.listener.name == "inbox_counts")
    await loop.stop()
    acks = [await (await hub.chat(chat_message(sender={"id": f"c{n}"}))).json() for n in range(3)]
    for ack in acks[:2]:
        await hub.call(
            "PATCH", f"/api/v1/conversations/{ack['conversation_id']}", me, json={"assignee_id": my_id}
        )
    await hub.call(
        "PATCH", f"/api/v1/conversations/{acks[0]['conversation_id']}", me, json={"status": "resolved"}
    )
    assert await hub.db.events.count_documents({"pending": "inbox_counts"}) > 0
    _, counts = await hub.call("GET", "/api/v1/inbox/counts", me)
    assert counts["mine"] == {"open": 1, "pending": 0, "snoozed": 0, "resolved": 1}
    assert counts["unassigned"]["open"] == 1 and counts["all"]["resolved"] == 1
    await _assert_exact(hub, me, my_id)


async def test_concurrent_assignments_leave_the_counts_exact(hub):
    (me, my_id), (other, other_id) = await _agent(hub), await _agent(hub)
    acks = [await (await hub.chat(chat_message(sender={"id": f"c{n}"}))).json() for n in range(4)]

    async def assign(conversation: str, token: str, assignee: str | None) -> int:
        path = f"/api/v1/conversations/{conversation}"
        return (await hub.call("PATCH", path, token, json={"assignee_id": assignee}))[0]

    for round_ in range(8):
        targets = ((me, my_id), (other, other_id)) if round_ % 2 else ((other, other_id), (me, None))
        statuses = await asyncio.gather(
            *(assign(ack["conversation_id"], token, assignee) for ack in acks for token, assignee in targets)
        )
        assert set(statuses) <= {200, 503}  # a write conflict asks the agent to try again
        await _assert_exact(hub, me, my_id)
    await eventually(lambda: all_events_handled(hub.db), timeout=30)
    await _assert_exact(hub, other, other_id)


async def test_a_database_without_totals_is_counted_once_at_start(make_hub, settings):
    hub = await make_hub()
    me, my_id = await _agent(hub)
    acks = [await (await hub.chat(chat_message(sender={"id": f"c{n}"}))).json() for n in range(3)]
    await hub.call(
        "PATCH", f"/api/v1/conversations/{acks[0]['conversation_id']}", me, json={"assignee_id": my_id}
    )
    await hub.call(
        "PATCH", f"/api/v1/conversations/{acks[1]['conversation_id']}", me, json={"status": "resolved"}
    )
    await eventually(lambda: all_events_handled(hub.db), timeout=30)
    expected = await _counted_by_hand(hub, my_id)
    # As a database from before the totals: none stored, and events still owed to the listener
    # (which the count at start already includes, so they must not be counted again).
    await hub.db.inbox_totals.delete_many({})
    await hub.db.events.update_many({}, {"$addToSet": {"pending": "inbox_counts"}})
    await hub.client.close()

    restarted = await make_hub()
    assert await restarted.db.inbox_totals.find_one({"_id": TOTALS_ID})
    await eventually(lambda: all_events_handled(restarted.db), timeout=30)
    status, counts = await restarted.call("GET", "/api/v1/inbox/counts", me)
    assert status == 200 and counts == expected
    await (await restarted.chat(chat_message(sender={"id": "c9"}))).json()
    await _assert_exact(restarted, me, my_id)


async def test_a_conversation_assigned_before_its_first_message_counts_once_it_has_one(hub):
    me, my_id = await _agent(hub)
    ack = await (await hub.chat(chat_message())).json()
    # A thread the hub starts (a campaign's) has no message until its first one is stored.
    started_by_us = await hub.services.conversations.outbound_thread(
        "chat", "campaign-thread", ObjectId(ack["contact_id"]), route={}, subject="Hello"
    )
    path = f"/api/v1/conversations/{started_by_us}"
    assert (await hub.call("PATCH", path, me, json={"assignee_id": my_id}))[0] == 200
    counts = await _assert_exact(hub, me, my_id)
    assert counts["mine"]["resolved"] == 0 and counts["all"]["open"] == 1
    assert (await hub.call("POST", f"{path}/messages", me, json={"text": "Our spring offer"}))[0] == 201
    counts = await _assert_exact(hub, me, my_id)
    assert counts["mine"]["resolved"] == 1
    await eventually(lambda: all_events_handled(hub.db), timeout=30)
    await _assert_exact(hub, me, my_id)


async def test_processes_counting_the_totals_at_once_store_them_once(hub):
    me, my_id = await _agent(hub)
    for n in range(4):
        await hub.chat(chat_message(sender={"id": f"c{n}"}))
    await hub.db.inbox_totals.delete_many({})
    await asyncio.gather(*(InboxCounts(hub.db).ensure_totals() for _ in range(3)))
    [totals] = await hub.db.inbox_totals.find().to_list(None)
    assert totals["started"] == {"none": 4}
    await _assert_exact(hub, me, my_id)


async def test_a_recount_repairs_the_totals_which_are_never_replayed(hub, settings, monkeypatch):
    me, my_id = await _agent(hub)
    acks = [await (await hub.chat(chat_message(sender={"id": f"c{n}"}))).json() for n in range(3)]
    await hub.call(
        "PATCH", f"/api/v1/conversations/{acks[0]['conversation_id']}", me, json={"assignee_id": my_id}
    )
    await eventually(lambda: all_events_handled(hub.db), timeout=30)
    await hub.db.inbox_totals.update_one({"_id": TOTALS_ID}, {"$set": {"started.none": 99}})
    assert (await hub.call("GET", "/api/v1/inbox/counts", me))[1] != await _counted_by_hand(hub, my_id)

    monkeypatch.setenv("HUB_MONGO_URI", settings.mongo_uri)
    monkeypatch.setenv("HUB_MONGO_DB", settings.mongo_db)
    # A replay would count every conversation's events again on top of the totals.
    assert await asyncio.to_thread(main, ["events", "replay", "inbox_counts"]) == 2
    assert await asyncio.to_thread(main, ["inbox", "recount"]) == 0
    await _assert_exact(hub, me, my_id)


async def test_demo_data_made_before_any_hub_started_is_counted(settings, make_hub):
    from hub.demo import fill

    assert await fill(settings) == 0  # assignments and resolutions, their events still owed
    hub = await make_hub()
    me, my_id = await _agent(hub)
    counts = await _assert_exact(hub, me, my_id)
    assert counts["all"]["resolved"] and sum(counts["unassigned"].values()) < sum(counts["all"].values())
    await eventually(lambda: all_events_handled(hub.db), timeout=30)
    await _assert_exact(hub, me, my_id)


async def test_an_assignment_made_just_after_another_agents_is_made_and_counted(hub, monkeypatch):
    (me, my_id), (other, other_id) = await _agent(hub), await _agent(hub)
    ack = await (await hub.chat(chat_message())).json()
    conversations = hub.services.conversations
    path = f"/api/v1/conversations/{ack['conversation_id']}"
    validated, raced = conversations._validated, []

    async def while_validating(changes):  # the other agent's assignment lands meanwhile
        if not raced:
            raced.append(True)
            assert (await hub.call("PATCH", path, other, json={"assignee_id": other_id}))[0] == 200
        return await validated(changes)

    monkeypatch.setattr(conversations, "_validated", while_validating)
    for _ in range(2):  # the second time it is already mine when I ask, and theirs when I write
        raced.clear()
        status, changed = await hub.call("PATCH", path, me, json={"assignee_id": my_id})
        assert status == 200 and changed["assignee_id"] == my_id
        counts = await _assert_exact(hub, me, my_id)
        assert counts["mine"]["open"] == 1 and counts["all"]["open"] == 1
