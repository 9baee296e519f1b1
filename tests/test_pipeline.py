"""Dedupe, contact resolution across identities, and the counters the inbox shows."""

from __future__ import annotations

import asyncio

from crm_core.contacts import SenderIdentity
from crm_core.conversations import InboundWrite, NewThread, inbound_message
from crm_core.records import utcnow
from tests.conftest import chat_message


async def test_same_message_three_times_concurrently_is_stored_once(hub):
    payload = chat_message("Please call me back", external_id="ext-42")
    responses = await asyncio.gather(*(hub.chat(payload) for _ in range(3)))
    bodies = [await r.json() for r in responses]
    assert sorted(r.status for r in responses) == [200, 200, 201]
    assert len({b["id"] for b in bodies}) == 1
    assert sorted(b["duplicate"] for b in bodies) == [False, True, True]
    assert await hub.db.messages.count_documents({"external_id": "ext-42"}) == 1
    assert await hub.db.conversations.count_documents({}) == 1
    assert await hub.db.contacts.count_documents({}) == 1
    conversation = await hub.db.conversations.find_one({})
    assert conversation["message_count"] == 1


async def test_redelivery_later_returns_the_stored_id(hub):
    payload = chat_message("hello", external_id="ext-7")
    first = await (await hub.chat(payload)).json()
    await hub.chat(chat_message("something else"))
    again = await hub.chat(payload)
    assert again.status == 200
    assert (await again.json())["id"] == first["id"]
    assert await hub.db.messages.count_documents({}) == 2


async def test_contact_found_by_email_case_insensitively_across_identities(hub):
    first = await (await hub.chat(chat_message(sender={"id": "web-1", "email": "Bob@Example.COM"}))).json()
    second = await (await hub.chat(chat_message(sender={"id": "app-9", "email": "bob@example.com"}))).json()
    assert first["contact_id"] == second["contact_id"]
    assert first["conversation_id"] != second["conversation_id"]
    contact = await hub.db.contacts.find_one({})
    assert contact["emails"] == ["bob@example.com"]
    assert {i["external_id"] for i in contact["identities"]} == {"web-1", "app-9"}


async def test_contact_found_by_phone_in_any_format(hub):
    a = await (
        await hub.chat(chat_message(sender={"id": "p1", "email": None, "phone": "+1 (415) 555-0134"}))
    ).json()
    b = await (
        await hub.chat(chat_message(sender={"id": "p2", "email": None, "phone": "+14155550134"}))
    ).json()
    c = await (
        await hub.chat(chat_message(sender={"id": "p3", "email": None, "phone": "+1 212 555 0199"}))
    ).json()
    assert a["contact_id"] == b["contact_id"] != c["contact_id"]
    contact = await hub.db.contacts.find_one({"identities.external_id": "p1"})
    assert contact["phones"] == ["+14155550134"]


async def test_identity_wins_over_email(hub):
    await hub.chat(chat_message(sender={"id": "u-a", "email": "a@example.com"}))
    other = await (await hub.chat(chat_message(sender={"id": "u-b", "email": "b@example.com"}))).json()
    # u-b now writes with a's email: still u-b's contact, the identity is the stronger key.
    again = await (await hub.chat(chat_message(sender={"id": "u-b", "email": "a@example.com"}))).json()
    assert again["contact_id"] == other["contact_id"]


async def test_waiting_since_tracks_unanswered_customer_messages(hub):
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message("first"))).json()
    conversation = await hub.db.conversations.find_one({})
    waiting = conversation["waiting_since"]
    await hub.chat(chat_message("second"))
    assert (await hub.db.conversations.find_one({}))["waiting_since"] == waiting
    await hub.call(
        "POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent, json={"text": "hi"}
    )
    assert "waiting_since" not in await hub.db.conversations.find_one({})
    await hub.chat(chat_message("third"))
    conversation = await hub.db.conversations.find_one({})
    assert conversation["waiting_since"] > waiting
    assert conversation["message_count"] == 4


async def test_a_burst_of_new_customers_with_redeliveries_stores_each_once(hub):
    payloads = [
        chat_message(
            f"hi from {n}", external_id=f"burst-{n}", sender={"id": f"new-{n}", "email": f"n{n}@example.com"}
        )
        for n in range(10)
    ]
    responses = await asyncio.gather(*(hub.chat(p) for p in payloads * 3))
    assert sorted(r.status for r in responses) == [200] * 20 + [201] * 10
    for name in ("messages", "conversations", "contacts"):
        assert await hub.db[name].count_documents({}) == 10, name


async def test_one_batch_counts_each_message_in_its_own_conversation(hub):
    """A group commit holding several conversations' messages: each conversation counts its
    own and shows its newest; only a customer's message (not a machine's) reopens it and makes
    it wait for an agent."""
    services = hub.services
    contact_id = await services.contacts.resolve("chat", "batch-customer", name="Ann")
    route = {"recipient": "batch-customer"}
    one, two = [
        (await services.conversations.thread_for_inbound("chat", key, contact_id, route=route, subject=None,
                                                        at=utcnow()))[0]
        for key in ("one", "two")
    ]  # fmt: skip
    await hub.db.conversations.update_many({}, {"$set": {"status": "resolved"}})

    def write(conversation_id, text: str, **flags: str) -> InboundWrite:
        message = inbound_message(conversation_id=conversation_id, contact_id=contact_id, channel="chat",
                                  external_id=text, sender={"external_id": "batch-customer"}, text=text,
                                  attachments=[], sent_at=utcnow(), flags=flags)  # fmt: skip
        return InboundWrite(conversation_id, message, route)

    # Texts an update could mistake for its own expressions are stored as written.
    batch = [
        write(one, "where is it?"),
        write(one, "$$ROOT $status", auto="bulk"),
        write(two, "auto 2", auto="bulk"),
    ]
    stored = await services.conversations.add_inbound(batch)
    assert [s.duplicate for s in stored] == [False, False, False]
    at = {m["text"]: m["created_at"] for m in await hub.db.messages.find().to_list(None)}

    first = await hub.db.conversations.find_one({"_id": one})
    assert first["message_count"] == 2 and first["status"] == "open"
    assert first["waiting_since"] == at["where is it?"]
    assert (
        first["last_message"]["text"] == "$$ROOT $status" and first["last_message_at"] == at["$$ROOT $status"]
    )
    second = await hub.db.conversations.find_one({"_id": two})
    assert second["message_count"] == 1 and second["status"] == "resolved" and "waiting_since" not in second
    assert second["last_message"]["text"] == "auto 2"
    # The first counted message of each conversation opens it (for the reports).
    events = [e for commit in await hub.db.events.find().to_list(None) for e in commit["events"]]
    assert [e["opens"] for e in events if e["type"] == "message.received"] == [True, False, True]


async def test_two_processes_opening_the_same_new_threads_share_contacts_and_conversations(hub):
    """Each hub process opens a batch of new threads with one read and one insert; when two
    make the same customer's contact or conversation at once, the loser takes the winner's."""
    contacts, conversations = hub.services.contacts, hub.services.conversations
    senders = [SenderIdentity("chat", f"shared-{n}", name=f"Shared {n}") for n in range(6)]
    batches = (senders[:4], senders[2:])  # the middle two customers are in both

    found = await asyncio.gather(*(contacts.resolve_many(batch) for batch in batches))

    first, second = (dict(zip(batch, ids, strict=True)) for batch, ids in zip(batches, found, strict=True))
    assert all(first[sender] == second[sender] for sender in senders[2:4])
    assert await hub.db.contacts.count_documents({}) == 6
    contact_of = first | second
    threads = [
        NewThread("chat", s.external_id, contact_of[s], {"chat_id": s.external_id}, None, utcnow())
        for s in senders
    ]
    opened = await asyncio.gather(
        conversations.threads_for_inbound(threads[:4]), conversations.threads_for_inbound(threads[2:])
    )
    assert opened[0][2:] == opened[1][:2]
    assert await hub.db.conversations.count_documents({}) == 6
