"""Outbound webhooks against a real HTTP receiver on loopback, verified with the
`standardwebhooks` package as a receiver would: signatures, retries with one webhook-id, the
delivery log and sending again, secret rotation, refused addresses, a dead receiver that holds
nobody else up, and an endpoint failing for days disabled with the admins told."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest
from aiohttp import web
from bson import ObjectId
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm_core.webhooks import WebhookEndpoints, WebhookOutbox
from tests.conftest import chat_message, eventually
from tests.local_server import LocalServer

LOOPBACK = (ip_network("127.0.0.1/32"),)


class WebhookReceiver(LocalServer):
    """Answers with `statuses` in order (then 200); `hold` keeps each request open until set."""

    def __init__(self, statuses: list[int] | None = None, hold: asyncio.Event | None = None) -> None:
        super().__init__()
        self.statuses = list(statuses or [])
        self.hold = hold
        self.received: list[tuple[dict[str, str], bytes]] = []

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/hook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hold is not None:
            await self.hold.wait()
        self.received.append((dict(request.headers), body))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200, text="thanks")

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
async def receivers():
    started: list[WebhookReceiver] = []

    async def start(statuses: list[int] | None = None, hold: asyncio.Event | None = None) -> WebhookReceiver:
        receiver = await WebhookReceiver(statuses, hold).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        if receiver.hold is not None:
            receiver.hold.set()
        await receiver.stop()


async def register(hub, admin: str, url: str, events: list[str]) -> dict:
    status, endpoint = await hub.call("POST", "/api/v1/webhooks", admin, json={"url": url, "events": events})
    assert status == 201, endpoint
    return endpoint


async def test_an_event_reaches_the_receiver_signed_per_standard_webhooks(make_hub, receivers):
    receiver = await receivers()
    hub = await make_hub(webhook_allowed_networks=LOOPBACK)
    admin = await hub.login("admin")
    endpoint = await register(hub, admin, receiver.url, ["message.received"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["message.received"]

    ack = await (await hub.chat(chat_message("Where is my parcel?"))).json()
    await eventually(lambda: asyncio.sleep(0, receiver.received))
    [(headers, body)] = receiver.received
    event = Webhook(endpoint["secret"]).verify(body, headers)  # raises unless signed right
    assert event["type"] == "message.received" and event["version"] == 1
    assert (
        event["data"]["message_id"] == ack["id"]
        and event["data"]["conversation_id"] == ack["conversation_id"]
    )
    assert headers["webhook-id"] == f"msg_{event['id']}_{endpoint['id']}"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(body, headers)

    status, listed = await hub.call("GET", "/api/v1/webhooks", admin)
    assert status == 200 and "secret" not in listed["items"][0]
    assert (await hub.call("GET", "/api/v1/webhooks", await hub.login("agent")))[0] == 403


async def test_a_failed_delivery_is_retried_with_its_id_logged_and_sent_again(make_hub, receivers):
    receiver = await receivers([503])
    hub = await make_hub(webhook_allowed_networks=LOOPBACK)
    admin = await hub.login("admin")
    endpoint = await register(hub, admin, receiver.url, ["message.received", "conversation.status_changed"])
    await hub.chat(chat_message())
    await hub.db.jobs.update_many({"kind": "webhook"}, {"$set": {"next_attempt_at": datetime.now(UTC)}})

    async def delivered_twice():
        # The retry waits about five seconds: bring it forward, as time passing would.
        await hub.db.jobs.update_many(
            {"kind": "webhook", "status": "pending"}, {"$set": {"next_attempt_at": datetime.now(UTC)}}
        )
        hub.services.webhook_worker.wake()
        return len(receiver.received) >= 2

    await eventually(delivered_twice, timeout=20)
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]  # receivers deduplicate on it

    status, log = await hub.call("GET", f"/api/v1/webhooks/{endpoint['id']}/deliveries", admin)
    assert status == 200
    assert [(d["attempt"], d["status"], d["ok"]) for d in log["items"]] == [(2, 200, True), (1, 503, False)]
    assert log["items"][0]["response"] == "thanks"
    status, _ = await hub.call(
        "POST", f"/api/v1/webhooks/{endpoint['id']}/deliveries/{log['items'][0]['id']}/send-again", admin
    )
    assert status == 202
    await eventually(lambda: asyncio.sleep(0, len(receiver.received) == 3))
    assert receiver.received[2][0]["webhook-id"] == first[0]["webhook-id"]


async def test_after_a_rotation_deliveries_verify_with_the_old_secret_and_the_new(make_hub, receivers):
    receiver = await receivers()
    hub = await make_hub(webhook_allowed_networks=LOOPBACK)
    admin = await hub.login("admin")
    endpoint = await register(hub, admin, receiver.url, ["message.received"])
    status, rotated = await hub.call("POST", f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", admin)
    assert status == 200 and rotated["secret"] != endpoint["secret"]
    await hub.chat(chat_message())
    await eventually(lambda: asyncio.sleep(0, receiver.received))
    [(headers, body)] = receiver.received
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(body, headers)["type"] == "message.received"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",  # loopback
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",  # a name that resolves to loopback
        "http://example.com/hook",  # not https
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
        "not a url",
    ],
)
async def test_urls_the_hub_must_not_reach_are_refused(hub, url):
    admin = await hub.login("admin")
    status, error = await hub.call(
        "POST", "/api/v1/webhooks", admin, json={"url": url, "events": ["message.received"]}
    )
    assert status == 422, error
    assert await hub.db.webhook_endpoints.count_documents({}) == 0


async def test_unknown_event_types_are_refused(make_hub):
    hub = await make_hub(webhook_allowed_networks=LOOPBACK)
    admin = await hub.login("admin")
    body = {"url": "http://127.0.0.1:9/hook", "events": ["message.teleported"]}
    status, error = await hub.call("POST", "/api/v1/webhooks", admin, json=body)
    assert status == 422 and "message.teleported" in error["error"]["message"]


async def test_a_dead_receiver_holds_up_neither_another_receiver_nor_replies(
    make_hub, receivers, receiver_factory
):
    stuck = await receivers(hold=asyncio.Event())
    lively = await receivers()
    chat_receiver = await receiver_factory([])
    hub = await make_hub(webhook_allowed_networks=LOOPBACK, chat_outbound_url=chat_receiver.url)
    admin, agent = await hub.login("admin"), await hub.login("agent")
    await register(hub, admin, stuck.url, ["message.received"])
    await register(hub, admin, lively.url, ["message.received"])
    acks = [
        await (
            await hub.chat(chat_message(f"message {n}", sender={"id": f"s{n}", "email": f"s{n}@example.com"}))
        ).json()
        for n in range(12)
    ]
    await eventually(lambda: asyncio.sleep(0, len(lively.received) == 12), timeout=20)
    assert stuck.received == []  # all its deliveries still hang
    await hub.call(
        "POST", f"/api/v1/conversations/{acks[0]['conversation_id']}/messages", agent, json={"text": "On it"}
    )
    await eventually(lambda: asyncio.sleep(0, chat_receiver.requests), timeout=20)
    assert stuck.received == []


async def test_an_endpoint_failing_for_days_is_disabled_and_the_admins_told(make_hub, receivers):
    receiver = await receivers([500])
    hub = await make_hub(webhook_allowed_networks=LOOPBACK)
    admin = await hub.login("admin")
    endpoint = await register(hub, admin, receiver.url, ["message.received"])
    six_days_ago = datetime.now(UTC) - timedelta(days=6)
    await hub.db.webhook_endpoints.update_one(
        {"_id": ObjectId(endpoint["id"])}, {"$set": {"failing_since": six_days_ago}}
    )
    await hub.chat(chat_message())

    async def disabled():
        found = await hub.db.webhook_endpoints.find_one({"_id": ObjectId(endpoint["id"]), "active": False})
        return found

    stored = await eventually(disabled, timeout=20)
    assert "failed since" in stored["disabled_reason"]
    [note] = await eventually(lambda: hub.db.notifications.find({"kind": "webhook.disabled"}).to_list(None))
    assert receiver.url in note["text"]
    status, turned_on = await hub.call(
        "PATCH", f"/api/v1/webhooks/{endpoint['id']}", admin, json={"active": True}
    )
    assert status == 200 and turned_on["active"] and turned_on["failing_since"] is None


async def test_events_queued_again_queue_each_delivery_once(hub):
    await hub.db.webhook_endpoints.insert_one(
        {"_id": ObjectId(), "active": True, "events": ["message.received"]}
    )
    event = {"_id": ObjectId(), "type": "message.received", "at": datetime.now(UTC), "actor": None,
             "message_id": ObjectId(), "conversation_id": ObjectId(), "contact_id": ObjectId(),
             "channel": "chat", "direction": "in", "opens": True}  # fmt: skip
    outbox = WebhookOutbox(hub.db, WebhookEndpoints(hub.db))
    for _ in range(2):  # a transaction that records them retried after its commit's answer was lost
        assert await outbox.queue([event], None)
    assert await hub.db.jobs.count_documents({"kind": "webhook"}) == 1
