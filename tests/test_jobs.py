"""The job queue: a job that runs out of tries is parked with its reason, an admin sees and
retries it, each kind has its figures in /metrics, and a listener retried after a failure
queues its effect once."""

from __future__ import annotations

from bson import ObjectId

from hub.listeners import ListenerLoop
from tests.conftest import all_events_handled, chat_message, eventually
from tests.test_slack import INBOX, SIGNING_SECRET


async def test_a_job_out_of_tries_is_parked_then_an_admin_retries_it(make_hub, receiver_factory):
    receiver = await receiver_factory([500, 500])
    hub = await make_hub(chat_outbound_url=receiver.url, outbox_max_attempts=2)
    admin, agent = await hub.login("admin"), await hub.login("agent")
    ack = await (await hub.chat(chat_message())).json()
    status, reply = await hub.call("POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent,
                                   json={"text": "On it"})  # fmt: skip
    assert status == 201

    async def parked():
        status, body = await hub.call("GET", "/api/v1/jobs?status=parked", admin)
        assert status == 200
        return body["items"] or None

    [job] = await eventually(parked)
    assert job["kind"] == "message" and job["attempts"] == 2 and "HTTP 500" in job["last_error"]
    assert job["payload"]["message_id"] == reply["id"]
    message = await hub.db.messages.find_one({"_id": ObjectId(reply["id"])})
    assert message["delivery"]["status"] == "failed"
    assert (await hub.call("GET", "/api/v1/jobs", agent))[0] == 403
    assert (await hub.call("GET", "/api/v1/jobs?status=stuck", admin))[0] == 400
    metrics = (await hub.call("GET", "/metrics"))[1]
    assert 'hub_jobs_total{kind="message",result="parked"} 1.0' in metrics
    assert 'hub_jobs_total{kind="message",result="retrying"} 1.0' in metrics

    assert (await hub.call("POST", f"/api/v1/jobs/{job['id']}/retry", agent))[0] == 403
    status, retried = await hub.call("POST", f"/api/v1/jobs/{job['id']}/retry", admin)
    assert status == 200 and retried["status"] == "pending" and retried["attempts"] == 0
    delivered = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"})
    )
    assert delivered["delivery"]["attempts"] == 1
    assert len(receiver.requests) == 3
    assert len({headers["X-Hub-Delivery"] for headers, _ in receiver.requests}) == 1  # one delivery id
    assert (await hub.call("POST", f"/api/v1/jobs/{job['id']}/retry", admin))[0] == 409  # done now
    assert (await hub.call("POST", f"/api/v1/jobs/{ObjectId()}/retry", admin))[0] == 404
    status, trail = await hub.call("GET", f"/api/v1/audit?target_type=job&target_id={job['id']}", admin)
    assert status == 200 and [entry["action"] for entry in trail["items"]] == ["job.retry"]


async def test_a_listener_retried_after_its_writes_failed_posts_to_slack_once(
    make_hub, fake_slack, monkeypatch
):
    hub = await make_hub(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{fake_slack.base_url}/api/",
        slack_inbox_channel=INBOX,
    )
    acknowledge = ListenerLoop._acknowledge
    failures: list[str] = []

    async def fails_once_after_the_writes(loop, commits, session):
        if loop.listener.name == "slack-mirror" and not failures:
            failures.append("after the mirror's writes, before its acknowledgement")
            raise RuntimeError("killed mid-batch")
        return await acknowledge(loop, commits, session)

    monkeypatch.setattr(ListenerLoop, "_acknowledge", fails_once_after_the_writes)
    await hub.chat(chat_message("My tent arrived torn"))

    def inbox_posts():
        return [post for post in fake_slack.sent("chat.postMessage") if post["channel"] == INBOX]

    await eventually(lambda: hub.db.jobs.find_one({"kind": "slack.mirror", "status": "done"}))
    await eventually(lambda: all_events_handled(hub.db))
    assert failures and len(inbox_posts()) == 1
    assert await hub.db.jobs.count_documents({"kind": "slack.mirror"}) == 1


async def test_replies_an_earlier_version_left_in_its_outbox_are_delivered_with_their_ids(
    make_hub, receiver_factory
):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    entry_id = ObjectId()
    legacy = {"_id": entry_id, "message_id": None, "conversation_id": None, "channel": "chat",
              "route": {"customer_id": "c-1"}, "text": "Sent before the upgrade", "status": "pending",
              "attempts": 1, "parts_sent": 0}  # fmt: skip
    await hub.db.outbox.insert_one(legacy)
    assert await hub.services.jobs.adopt_outbox() == 1
    assert await hub.services.jobs.adopt_outbox() == 0  # adopted once
    hub.services.job_worker.wake()
    await eventually(lambda: hub.db.jobs.find_one({"_id": entry_id, "status": "done"}))
    [(headers, body)] = receiver.requests
    assert headers["X-Hub-Delivery"] == str(entry_id) and b"Sent before the upgrade" in body
    assert await hub.db.outbox.count_documents({}) == 0
