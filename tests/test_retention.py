"""Message retention: with HUB_MESSAGE_RETENTION_DAYS set, bodies older than that are removed on
schedule (text, markup, files), the records and the figures kept; unset, nothing is removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from tests.conftest import chat_message, eventually

PNG = b"\x89PNG\r\n\x1a\n" + b"1" * 32


async def test_old_message_bodies_are_removed_and_the_records_stay(make_hub):
    hub = await make_hub(message_retention_days=30)
    agent = await hub.login("agent")
    old = await (await hub.chat(chat_message("My card number is 4111 1111 1111 1111"))).json()
    _, upload = await hub.upload(
        agent, old["conversation_id"], PNG, name="id-card.png", content_type="image/png"
    )
    _, reply = await hub.call("POST", f"/api/v1/conversations/{old['conversation_id']}/messages", agent,
                              json={"text": "Thanks, noted", "attachments": [upload["id"]]})  # fmt: skip
    long_ago = datetime.now(UTC) - timedelta(days=31)
    await hub.db.messages.update_many({}, {"$set": {"created_at": long_ago}})
    recent = await (
        await hub.chat(chat_message("Another question", sender={"id": "b", "email": "b@example.com"}))
    ).json()
    hub.services.retention_watch.wake()

    async def removed():
        return await hub.db.messages.count_documents({"body_removed_at": {"$ne": None}}) == 2

    await eventually(removed, timeout=20)
    gone = await hub.db.messages.find_one({"_id": ObjectId(old["id"])})
    assert (
        gone["text"] == ""
        and gone["terms"] == []
        and gone["conversation_id"] == ObjectId(old["conversation_id"])
    )
    answered = await hub.db.messages.find_one({"_id": ObjectId(reply["id"])})
    assert (
        answered["attachments"][0]["name"] == "id-card.png" and await hub.db.uploads.count_documents({}) == 0
    )
    assert (await hub.db.messages.find_one({"_id": ObjectId(recent["id"])}))["text"] == "Another question"
    conversation = await hub.db.conversations.find_one({"_id": ObjectId(old["conversation_id"])})
    assert conversation["last_message"]["text"] == "" and conversation["message_count"] == 2


async def test_without_the_setting_nothing_is_removed(hub):
    await hub.chat(chat_message())
    await hub.db.messages.update_many({}, {"$set": {"created_at": datetime.now(UTC) - timedelta(days=3650)}})
    assert hub.services.retention_watch is None
    assert (await hub.db.messages.find_one({}))["text"] == "Hello, I need help with my order"
