"""The whole inbox story over HTTP: a customer writes, an agent works the conversation,
the reply reaches the channel and every step shows up live on the realtime stream."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest

from channels.base import hmac_sha256_signature
from tests.conftest import CHAT_SECRET, chat_message, eventually


async def _next_event(ws, wanted: str, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads((await ws.receive()).data)
            if event["type"] == wanted:
                return event


@pytest.mark.parametrize("change_streams", [True, False], ids=["change-streams", "in-process-events"])
async def test_customer_message_to_agent_reply_end_to_end(make_hub, receiver_factory, change_streams):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url, change_streams=change_streams)
    assert hub.services.realtime.uses_change_streams is change_streams
    agent = await hub.login("agent")
    ws = await hub.client.ws_connect("/api/v1/stream", headers={"Authorization": f"Bearer {agent}"})
    assert (json.loads((await ws.receive()).data))["type"] == "ready"

    resp = await hub.chat(chat_message("My parcel never arrived", thread_id="order-88412"))
    assert resp.status == 201
    ack = await resp.json()

    created = await _next_event(ws, "message.created")
    assert created["data"]["id"] == ack["id"]
    assert created["data"]["text"] == "My parcel never arrived"

    status, inbox = await hub.call("GET", "/api/v1/conversations?status=open", agent)
    assert status == 200
    [row] = inbox["items"]
    assert row["id"] == ack["conversation_id"]
    assert row["contact_id"] == ack["contact_id"]
    assert row["message_count"] == 1
    assert row["waiting_since"] is not None

    status, conversation = await hub.call("GET", f"/api/v1/conversations/{row['id']}", agent)
    assert conversation["contact"]["name"] == "Ann Example"
    assert conversation["contact"]["emails"] == ["ann@example.com"]
    assert conversation["contact"]["identities"] == [{"channel": "chat", "external_id": "customer-1"}]

    status, reply = await hub.call(
        "POST",
        f"/api/v1/conversations/{row['id']}/messages",
        agent,
        json={"text": "Sorry! Checking with the courier."},
    )
    assert status == 201 and reply["direction"] == "out" and reply["delivery"]["status"] == "pending"

    await eventually(lambda: asyncio.sleep(0, len(receiver.requests) == 1))
    headers, body = receiver.requests[0]
    assert headers["X-Hub-Signature-256"] == hmac_sha256_signature(CHAT_SECRET, body)
    delivered = json.loads(body)
    assert delivered["text"] == "Sorry! Checking with the courier."
    assert delivered["recipient"] == {"id": "customer-1"}
    assert delivered["thread_id"] == "order-88412"
    sent = await _next_event(ws, "message.updated")
    assert sent["data"]["id"] == reply["id"] and sent["data"]["delivery"]["status"] == "sent"

    status, note = await hub.call(
        "POST",
        f"/api/v1/conversations/{row['id']}/messages",
        agent,
        json={"text": "VIP, be nice", "private": True},
    )
    assert status == 201 and note["kind"] == "note"

    agent_id = (await hub.call("GET", "/api/v1/auth/me", agent))[1]["id"]
    status, updated = await hub.call(
        "PATCH",
        f"/api/v1/conversations/{row['id']}",
        agent,
        json={
            "assignee_id": agent_id,
            "priority": "high",
            "labels": ["Shipping", "vip"],
            "status": "pending",
        },
    )
    assert status == 200
    assert (updated["assignee_id"], updated["priority"], updated["labels"], updated["status"]) == (
        agent_id, "high", ["shipping", "vip"], "pending"
    )  # fmt: skip
    live = await _next_event(ws, "conversation.updated")
    while live["data"]["status"] != "pending":
        live = await _next_event(ws, "conversation.updated")
    assert live["data"]["assignee_id"] == agent_id

    status, thread = await hub.call("GET", f"/api/v1/conversations/{row['id']}/messages", agent)
    kinds = [(m["kind"], m["direction"]) for m in thread["items"]]
    assert kinds[:3] == [("message", "in"), ("message", "out"), ("note", "out")]
    assert {k for k, _ in kinds[3:]} == {"activity"}
    activity = [m["text"] for m in thread["items"][3:]]
    assert (
        "Agent User assigned it to Agent User" in activity and "Agent User set priority to high" in activity
    )
    assert thread["items"][1]["delivery"]["status"] == "sent"
    assert thread["items"][0]["nlp"] == {"status": "pending"}

    status, mine = await hub.call("GET", "/api/v1/conversations?assignee=me&label=vip", agent)
    assert [c["id"] for c in mine["items"]] == [row["id"]]
    status, found = await hub.call("GET", "/api/v1/conversations?q=parc", agent)
    assert [c["id"] for c in found["items"]] == [row["id"]]
    status, none = await hub.call("GET", "/api/v1/conversations?q=refund", agent)
    assert none["items"] == []

    conversation = await hub.db.conversations.find_one({})
    assert conversation["first_response_at"] is not None and "waiting_since" not in conversation
    actions = {a["action"] async for a in hub.db.audit.find({"target_id": conversation["_id"]})}
    assert actions == {"conversation.reply", "conversation.note", "conversation.update"}
    await ws.close()


async def test_chinese_words_are_found_inside_a_sentence(hub):
    agent = await hub.login("agent")
    sentence = chat_message(
        "你好，我的订单还没有到，请帮我查一下物流",
        sender={"id": "zh-1", "name": "王小明", "email": "wang@example.cn"},
    )
    ack = await (await hub.chat(sentence)).json()
    await hub.chat(chat_message("我想退款", sender={"id": "zh-2", "name": "李华", "email": "li@example.cn"}))
    for words in ("订单", "物流", "还没有", "小明"):
        _, found = await hub.call("GET", f"/api/v1/conversations?q={quote(words)}", agent)
        assert [c["id"] for c in found["items"]] == [ack["conversation_id"]], words
    _, none = await hub.call("GET", f"/api/v1/conversations?q={quote('发票')}", agent)
    assert none["items"] == []


async def test_resolved_conversation_reopens_on_customer_reply(hub):
    agent = await hub.login("agent")
    first = await (await hub.chat(chat_message("Where is my refund?"))).json()
    status, _ = await hub.call("PATCH", f"/api/v1/conversations/{first['conversation_id']}", agent,
                               json={"status": "resolved"})  # fmt: skip
    assert status == 200
    second = await (await hub.chat(chat_message("Still nothing on my card"))).json()
    assert second["conversation_id"] == first["conversation_id"]
    _, conversation = await hub.call("GET", f"/api/v1/conversations/{first['conversation_id']}", agent)
    assert conversation["status"] == "open" and conversation["message_count"] == 2


async def test_threads_and_senders_get_their_own_conversations(hub):
    a = await (await hub.chat(chat_message("one", thread_id="t1"))).json()
    b = await (await hub.chat(chat_message("two", thread_id="t2"))).json()
    c = await (
        await hub.chat(chat_message("three", thread_id="t1", sender={"id": "someone-else", "email": None}))
    ).json()
    assert len({a["conversation_id"], b["conversation_id"], c["conversation_id"]}) == 3
    assert a["contact_id"] == b["contact_id"] != c["contact_id"]


async def test_events_reach_a_second_hub_process_on_the_same_database(make_hub):
    """Two hub processes on one replica set: a message ingested by one is pushed to agents on the other."""
    first, second = await make_hub(), await make_hub()
    token = await second.login("manager")
    ws = await second.client.ws_connect(f"/api/v1/stream?access_token={token}")
    await ws.receive()
    ack = await (await first.chat(chat_message("Hello from process one"))).json()
    event = await _next_event(ws, "message.created")
    assert event["data"]["id"] == ack["id"]
    await ws.close()


async def test_change_stream_is_open_only_while_someone_listens(make_hub, monkeypatch):
    """Nobody online: the database is not watched. The first agent to connect gets every change
    from then on; a while after the last one leaves the watch ends, and the next agent gets
    events again."""
    monkeypatch.setattr("hub.realtime.IDLE_SECONDS", 0.2)
    hub = await make_hub()
    realtime = hub.services.realtime
    assert realtime.uses_change_streams and not realtime.following
    await hub.chat(chat_message("Before anyone signed in"))
    token = await hub.login("agent")

    for text in ("First agent online", "Back after a break"):
        ws = await hub.client.ws_connect(f"/api/v1/stream?access_token={token}")
        assert json.loads((await ws.receive()).data)["type"] == "ready"
        assert realtime.following
        ack = await (await hub.chat(chat_message(text))).json()
        event = await _next_event(ws, "message.created")
        assert event["data"]["id"] == ack["id"] and event["data"]["text"] == text
        await ws.close()
        await eventually(lambda: asyncio.sleep(0, not realtime.following))


async def test_stream_requires_a_valid_token(hub):
    status, body = await hub.call("GET", "/api/v1/stream")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, _ = await hub.call("GET", "/api/v1/stream?access_token=nope")
    assert status == 401
