"""A staff user's notifications: mentions in private notes, the unread count, marking read."""

from __future__ import annotations

from bson import ObjectId

from tests.conftest import chat_message


async def test_a_mention_in_a_note_tells_the_colleague_once_and_only_them(hub):
    alice, bob, cara = await hub.login("agent"), await hub.login("agent"), await hub.login("manager")
    bob_id = (await hub.call("GET", "/api/v1/auth/me", bob))[1]["id"]
    ack = await (await hub.chat(chat_message("Where is my refund?"))).json()
    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"
    asked = {"text": "@Bob can you check the refund?", "private": True, "mentions": [bob_id, bob_id]}
    status, note = await hub.call("POST", path, alice, json=asked)
    assert status == 201 and note["kind"] == "note"
    status, mine = await hub.call("GET", "/api/v1/notifications", bob)
    assert status == 200 and mine["unread"] == 1
    [told] = mine["items"]
    assert told["kind"] == "mention" and "can you check the refund" in told["text"]
    assert told["conversation_id"] == ack["conversation_id"] and told["message_id"] == note["id"]
    assert (await hub.call("GET", "/api/v1/notifications", cara))[1] == {"items": [], "unread": 0}
    # Cara cannot mark Bob's read; Bob can.
    assert (await hub.call("POST", "/api/v1/notifications/read", cara, json={"ids": [told["id"]]}))[1][
        "unread"
    ] == 0
    assert (await hub.call("GET", "/api/v1/notifications", bob))[1]["unread"] == 1
    assert (await hub.call("POST", "/api/v1/notifications/read", bob, json={}))[1] == {"unread": 0}
    assert (await hub.call("GET", "/api/v1/notifications", bob))[1]["items"][0]["read_at"] is not None


async def test_mentions_are_checked_and_a_refused_note_is_not_stored(hub):
    alice = await hub.login("agent")
    ack = await (await hub.chat(chat_message("Hello"))).json()
    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"
    nobody = str(ObjectId())
    status, body = await hub.call(
        "POST", path, alice, json={"text": "@x", "private": True, "mentions": [nobody]}
    )
    assert status == 422 and nobody in body["error"]["message"]
    status, _ = await hub.call("POST", path, alice, json={"text": "hi", "mentions": [nobody]})  # a reply
    assert status == 422
    assert await hub.db.messages.count_documents({"direction": "out"}) == 0
    assert await hub.db.notifications.count_documents({}) == 0
