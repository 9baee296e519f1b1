"""Agent replies reach the chat channel's outbound URL through the job queue, with retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from tests.conftest import chat_message, eventually


async def _reply(hub, text="On it!"):
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message())).json()
    status, reply = await hub.call("POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent,
                                   json={"text": text})  # fmt: skip
    assert status == 201
    return ObjectId(reply["id"])


async def _delivery(hub, message_id, until: set[str]):
    async def settled():
        message = await hub.db.messages.find_one({"_id": message_id})
        return message["delivery"] if message["delivery"]["status"] in until else None

    return await eventually(settled)


async def test_failed_sends_are_retried_with_one_delivery_id_until_accepted(make_hub, receiver_factory):
    receiver = await receiver_factory([500, 503])
    hub = await make_hub(chat_outbound_url=receiver.url)
    message_id = await _reply(hub)
    delivery = await _delivery(hub, message_id, {"sent", "failed"})
    assert delivery["status"] == "sent" and delivery["attempts"] == 3 and delivery["error"] is None
    assert len(receiver.requests) == 3
    assert len({headers["X-Hub-Delivery"] for headers, _ in receiver.requests}) == 1
    assert {json.loads(body)["text"] for _, body in receiver.requests} == {"On it!"}
    entry = await hub.db.jobs.find_one({"payload.message_id": message_id})
    assert entry["kind"] == "message" and entry["status"] == "done"
    # A delivered entry is never claimed again.
    assert await hub.services.jobs.claim(["message"]) is None
    assert len(receiver.requests) == 3


async def test_rejected_send_fails_for_good_and_says_why(make_hub, receiver_factory):
    receiver = await receiver_factory([400])
    hub = await make_hub(chat_outbound_url=receiver.url)
    message_id = await _reply(hub)
    delivery = await _delivery(hub, message_id, {"failed"})
    assert delivery["attempts"] == 1 and "HTTP 400" in delivery["error"]
    assert len(receiver.requests) == 1


async def test_retries_stop_after_the_configured_attempts(make_hub, receiver_factory):
    receiver = await receiver_factory([500] * 10)
    hub = await make_hub(chat_outbound_url=receiver.url, outbox_max_attempts=3)
    message_id = await _reply(hub)
    delivery = await _delivery(hub, message_id, {"failed"})
    assert delivery["attempts"] == 3 and "HTTP 500" in delivery["error"]
    assert len(receiver.requests) == 3


async def test_unreachable_receiver_is_retried(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    url = receiver.url
    await receiver.stop()  # nothing listens there any more
    hub = await make_hub(chat_outbound_url=url, outbox_max_attempts=2)
    message_id = await _reply(hub)
    delivery = await _delivery(hub, message_id, {"failed"})
    assert delivery["attempts"] == 2 and "unreachable" in delivery["error"]


async def test_reply_without_outbound_url_is_marked_failed(hub):
    message_id = await _reply(hub)
    delivery = await _delivery(hub, message_id, {"failed"})
    assert "HUB_CHAT_OUTBOUND_URL" in delivery["error"]


async def test_entry_left_mid_send_by_a_dead_worker_is_taken_again(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    message_id = await _reply(hub)
    await _delivery(hub, message_id, {"sent"})
    # Simulate a crash after claiming: the entry is "sending" with an expired lease.
    await hub.db.jobs.update_one(
        {"payload.message_id": message_id},
        {"$set": {"status": "running", "lease_until": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    hub.services.job_worker.wake()
    await eventually(lambda: hub.db.jobs.find_one({"payload.message_id": message_id, "status": "done"}))
    assert len(receiver.requests) == 2
    assert receiver.requests[0][0]["X-Hub-Delivery"] == receiver.requests[1][0]["X-Hub-Delivery"]


class _BrokenSender:
    channel = "chat"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message):
        self.calls += 1
        if self.calls == 1:
            raise KeyError("surprise")
        return None


async def test_a_sender_bug_is_retried_and_does_not_stop_deliveries(hub):
    broken = _BrokenSender()
    hub.services.job_worker.handlers["message"].senders["chat"] = broken
    message_id = await _reply(hub, "first")
    delivery = await _delivery(hub, message_id, {"sent"})
    assert delivery["attempts"] == 2 and broken.calls == 2
    second = await _reply(hub, "second")
    assert (await _delivery(hub, second, {"sent"}))["attempts"] == 1
