"""Telegram with the real python-telegram-bot against a local Bot API fake."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time

import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st

from channels.telegram import text_parts
from tests.conftest import eventually
from tests.fake_telegram import FakeTelegram

SECRET = "tg-webhook-secret"
TOKEN = "123456:TEST-TOKEN"
_update_ids = itertools.count(1)


@pytest.fixture
async def fake_telegram():
    fake = await FakeTelegram().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def tg_hub(make_hub, fake_telegram):
    hub = await make_hub(
        telegram_token=TOKEN, telegram_secret=SECRET, telegram_api_url=fake_telegram.base_url
    )
    hub.fake = fake_telegram
    return hub


def update(chat_id: int = 777, text: str | None = "Hello, my order is late", *, message_id: int | None = None,
           edited: bool = False, **extra) -> dict:  # fmt: skip
    message = {
        "message_id": message_id or next(_update_ids) + 500,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Ola"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ola", "last_name": "Nordmann"},
        **({"text": text} if text is not None else {}),
        **extra,
    }
    if edited:
        message["edit_date"] = int(time.time())
    return {"update_id": next(_update_ids), ("edited_message" if edited else "message"): message}


async def post(hub, body, secret: str | None = SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return await hub.client.post("/webhooks/telegram", json=body, headers=headers)


async def test_customer_conversation_with_attachment_edit_and_agent_reply(tg_hub):
    hub = tg_hub
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 900},
        {"file_id": "big", "file_unique_id": "b", "width": 800, "height": 800, "file_size": 64000},
    ]
    first = update(text=None, caption="Here is the damaged box", photo=photo)
    assert (await post(hub, first)).status == 200
    assert (await post(hub, first)).status == 200  # Telegram redelivers: stored once
    message = await hub.db.messages.find_one({"channel": "telegram"})
    assert message["text"] == "Here is the damaged box"
    assert message["attachments"] == [{"name": "photo-b.jpg", "content_type": "image/jpeg", "size": 64000,
                                       "url": "telegram-file:big"}]  # fmt: skip
    contact = await hub.db.contacts.find_one({})
    assert contact["name"] == "Ola Nordmann" and contact["identities"] == [
        {"channel": "telegram", "external_id": "777"}
    ]

    original_id = first["message"]["message_id"]
    await post(
        hub, update(text="Here is the damaged box (photo attached)", message_id=original_id, edited=True)
    )
    edited = await hub.db.messages.find_one({"_id": message["_id"]})
    assert edited["text"] == "Here is the damaged box (photo attached)"
    assert edited["edits"][0]["text"] == "Here is the damaged box" and edited["edited_at"]
    assert await hub.db.messages.count_documents({}) == 1

    agent = await hub.login("agent")
    _, reply = await hub.call("POST", f"/api/v1/conversations/{message['conversation_id']}/messages", agent,
                              json={"text": "So sorry! A replacement is on its way."})  # fmt: skip
    sent = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"})
    )
    [delivered] = hub.fake.sent("sendMessage")
    assert delivered["chat_id"] == 777 and delivered["text"] == "So sorry! A replacement is on its way."
    assert sent["external_id"].startswith("777:")


async def test_blocked_bot_fails_for_good_and_429_waits_and_retries(tg_hub):
    hub = tg_hub
    agent = await hub.login("agent")
    for chat in (1001, 1002):
        await post(hub, update(chat_id=chat, text=f"hi from {chat}"))
    conversations = {c["route"]["chat_id"]: str(c["_id"]) async for c in hub.db.conversations.find({})}
    hub.fake.blocked.add(1001)
    hub.fake.rate_limited[1002] = 1
    _, blocked = await hub.call(
        "POST", f"/api/v1/conversations/{conversations[1001]}/messages", agent, json={"text": "a"}
    )
    _, limited = await hub.call(
        "POST", f"/api/v1/conversations/{conversations[1002]}/messages", agent, json={"text": "b"}
    )
    failed = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(blocked["id"]), "delivery.status": "failed"})
    )
    assert "blocked by the user" in failed["delivery"]["error"] and failed["delivery"]["attempts"] == 1
    started = asyncio.get_running_loop().time()
    sent = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(limited["id"]), "delivery.status": "sent"}),
        timeout=10,
    )
    assert sent["delivery"]["attempts"] == 2
    retrying = await hub.db.jobs.find_one({"payload.message_id": ObjectId(limited["id"])})
    assert "retry after 1" in (retrying["last_error"] or "retry after 1")
    assert asyncio.get_running_loop().time() - started < 10


async def test_a_reply_longer_than_telegram_takes_arrives_in_parts_each_once(tg_hub):
    hub = tg_hub
    agent = await hub.login("agent")
    await post(hub, update(chat_id=2001, text="How do I set it up?"))
    conversation = await hub.db.conversations.find_one({})
    steps = "\n\n".join(
        f"Step {n}: " + "打开设置，然后选择网络。" * 40 for n in range(1, 21)
    )  # 9,000+ characters
    hub.fake.rate_limited_after[2001] = 1  # the second part meets a 429 once
    _, reply = await hub.call(
        "POST", f"/api/v1/conversations/{conversation['_id']}/messages", agent, json={"text": steps}
    )
    sent = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"}),
        timeout=10,
    )
    parts = hub.fake.delivered[2001]
    # Three parts, the first received once though the second was retried, cut between steps.
    assert len(parts) == 3 and sent["delivery"]["attempts"] == 2
    assert all(len(part.encode("utf-16-le")) <= 2 * 4096 for part in parts)
    assert "\n\n".join(parts) == steps


async def test_secret_and_payload_are_checked(tg_hub):
    hub = tg_hub
    assert (await post(hub, update(), secret=None)).status == 403
    assert (await post(hub, update(), secret="wrong")).status == 403
    bad = await hub.client.post(
        "/webhooks/telegram", data=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert bad.status == 400
    assert (await post(hub, {"message": {}})).status == 400
    group = update()
    group["message"]["chat"]["type"] = "group"
    assert (await post(hub, group)).status == 200
    assert await hub.db.messages.count_documents({}) == 0


async def test_start_greets_and_staff_commands_need_a_linked_manager(tg_hub):
    hub = tg_hub
    await post(hub, update(chat_id=55, text="/start"))
    assert "our team will answer" in hub.fake.sent("sendMessage")[-1]["text"]
    await post(hub, update(chat_id=55, text="/stats today"))
    assert hub.fake.sent("sendMessage")[-1]["text"].startswith("Sorry, numbers are for managers")
    assert await hub.db.messages.count_documents({}) == 0

    await post(hub, update(chat_id=66, text="Where is my parcel?"))
    manager = await hub.login("manager")
    status, code = await hub.call("POST", "/api/v1/auth/link-code", manager)
    assert status == 201
    await post(hub, update(chat_id=99, text=f"/link {code['code']}"))
    assert hub.fake.sent("sendMessage")[-1]["text"].startswith("Linked to manager-")
    await post(hub, update(chat_id=99, text="/stats week"))
    assert hub.fake.sent("sendPhoto")  # the chart
    assert "Messages: 1 in" in hub.fake.sent("sendMessage")[-1]["text"]
    await post(hub, update(chat_id=98, text=f"/link {code['code']}"))  # codes work once
    assert "unknown or expired" in hub.fake.sent("sendMessage")[-1]["text"]


@pytest.mark.slow  # a process of its own
async def test_set_webhook_command_registers_url_and_secret(fake_telegram, tmp_path):
    env = {**os.environ, "HUB_TELEGRAM_TOKEN": TOKEN, "HUB_TELEGRAM_SECRET": SECRET,
           "HUB_TELEGRAM_API_URL": fake_telegram.base_url}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "telegram", "set-webhook", "--url", "https://hub.example/webhooks/telegram",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err
    [registered] = fake_telegram.sent("setWebhook")
    assert (
        registered["url"] == "https://hub.example/webhooks/telegram" and registered["secret_token"] == SECRET
    )


async def test_telegram_unreachable_at_start_is_down_then_the_next_update_brings_it_back(
    make_hub, fake_telegram
):
    fake_telegram.outage = True
    hub = await make_hub(
        telegram_token=TOKEN, telegram_secret=SECRET, telegram_api_url=fake_telegram.base_url
    )
    status, ready = await hub.call("GET", "/readyz")
    assert status == 200 and ready["channels"]["telegram"]["status"] == "down"
    assert "Bad Gateway" in ready["channels"]["telegram"]["problem"]
    first = update(text="Are you there?")
    response = await post(hub, first)
    assert response.status == 503  # Telegram delivers the update again
    assert await hub.db.messages.count_documents({"channel": "telegram"}) == 0

    fake_telegram.outage = False
    assert (await post(hub, first)).status == 200
    assert await hub.db.messages.count_documents({"channel": "telegram", "text": "Are you there?"}) == 1
    status, ready = await hub.call("GET", "/readyz")
    assert ready["channels"]["telegram"] == {"status": "ok", "sends": True}


@given(text=st.text(st.sampled_from("ab 中😀\n"), max_size=300), limit=st.integers(2, 40))
def test_parts_fit_the_limit_and_keep_every_character_in_order(text, limit):
    parts = text_parts(text, limit)
    assert all(len(part.encode("utf-16-le")) <= 2 * limit for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())  # only whitespace at cuts goes
    assert len(parts) == 1 or all(part.strip() for part in parts)


async def test_a_reply_with_a_file_sends_the_text_then_the_document(tg_hub):
    hub = tg_hub
    assert (await post(hub, update())).status == 200
    message = await eventually(lambda: hub.db.messages.find_one({"channel": "telegram"}))
    conversation_id = message["conversation_id"]
    agent = await hub.login("agent")
    pdf = {"name": "label.pdf", "content_type": "application/pdf"}
    status, uploaded = await hub.upload(agent, conversation_id, b"%PDF-1.4 label", **pdf)
    assert status == 201
    sending = {"text": "Your return label", "attachments": [uploaded["id"]]}
    _, reply = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                              json=sending)  # fmt: skip
    await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"})
    )
    [text] = hub.fake.sent("sendMessage")
    [document] = hub.fake.sent("sendDocument")
    assert text["text"] == "Your return label"
    assert document["document"] == {"filename": "label.pdf", "content": b"%PDF-1.4 label"}
