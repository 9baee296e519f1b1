"""Outbound webhooks (Standard Webhooks): the endpoints admins register, the fan-out of each
public domain event to the endpoints that want it (one `webhook` job per event and endpoint,
queued in the events' transaction, keyed so a batch handed over again queues it once), and
each endpoint's delivery log. Sending is the hub's (hub.webhook_delivery)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.domain_events import Event
from crm_core.errors import Invalid, NotFound
from crm_core.event_types import EVENT_TYPES, public_event
from crm_core.jobs import enqueue, enqueue_many, new_job
from crm_core.records import find_by_id, modify_one, object_id, transaction, utcnow

WEBHOOK = "webhook"  # the job kind
SECRET_PREFIX = "whsec_"
OLD_SECRET_KEPT = timedelta(days=1)  # after a rotation, receivers may still verify with the old one
DISABLED_AFTER = timedelta(days=5)  # failing this long without a success: the endpoint is disabled
LOGGED_BODY_BYTES = 1024  # of a receiver's answer, kept in the delivery log
LOG_KEPT = timedelta(days=30)


def new_secret() -> str:
    """`whsec_` and 32 random bytes in base64, as Standard Webhooks libraries expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise Invalid(f"events: unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    if not events:
        raise Invalid("events: at least one event type")
    return sorted(set(events))


def shown(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secrets."""
    return {k: v for k, v in endpoint.items() if k not in ("secret", "previous_secret")}


class WebhookEndpoints:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._col = db.webhook_endpoints
        self._log = db.webhook_deliveries

    async def create(
        self, url: str, events: Sequence[str], description: str | None, audited: Audited
    ) -> dict[str, Any]:
        """A new endpoint with its secret (the only time the secret is given out)."""
        now = utcnow()
        endpoint = {
            "_id": ObjectId(),
            "url": url,
            "events": checked_events(events),
            "description": description,
            "secret": new_secret(),
            "previous_secret": None,
            "previous_until": None,
            "active": True,
            "disabled_reason": None,
            "failing_since": None,
            "created_at": now,
            "updated_at": now,
        }
        async with transaction(self._db) as session:
            await self._col.insert_one(endpoint, session=session)
            await audited.record(
                self._db, endpoint["_id"], {"url": url, "events": endpoint["events"]}, session
            )
        return endpoint

    async def list(self) -> list[dict[str, Any]]:
        return await self._col.find({}).sort("created_at", 1).to_list(None)

    async def get(self, endpoint_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, endpoint_id, "webhook endpoint")

    async def update(self, endpoint_id: str, changes: dict[str, Any], audited: Audited) -> dict[str, Any]:
        """Change url, events, description or active (turning one on again clears its failures)."""
        if "events" in changes:
            changes["events"] = checked_events(changes["events"])
        if changes.get("active") is True:
            changes |= {"disabled_reason": None, "failing_since": None}
        oid = object_id(endpoint_id, "webhook endpoint")
        async with transaction(self._db) as session:
            updated = await modify_one(
                self._col, {"_id": oid}, {"$set": {**changes, "updated_at": utcnow()}}, session=session
            )
            if updated is None:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            await audited.record(self._db, oid, {k: v for k, v in changes.items() if k != "secret"}, session)
        return updated

    async def delete(self, endpoint_id: str, audited: Audited) -> None:
        oid = object_id(endpoint_id, "webhook endpoint")
        async with transaction(self._db) as session:
            removed = await self._col.delete_one({"_id": oid}, session=session)
            if not removed.deleted_count:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            await audited.record(self._db, oid, {}, session)

    async def rotate(self, endpoint_id: str, audited: Audited) -> tuple[dict[str, Any], str]:
        """A new secret; the old one still signs (as a second signature) for OLD_SECRET_KEPT."""
        endpoint = await self.get(endpoint_id)
        secret = new_secret()
        changes = {
            "secret": secret,
            "previous_secret": endpoint["secret"],
            "previous_until": utcnow() + OLD_SECRET_KEPT,
            "updated_at": utcnow(),
        }
        async with transaction(self._db) as session:
            updated = await modify_one(
                self._col, {"_id": endpoint["_id"]}, {"$set": changes}, session=session
            )
            await audited.record(self._db, endpoint["_id"], {"rotated": True}, session)
        assert updated is not None
        return updated, secret

    async def log(self, entries: Sequence[dict[str, Any]]) -> list[None]:
        """Deliveries' outcomes (each with its `endpoint_id`), in the endpoints' logs."""
        expires = utcnow() + LOG_KEPT
        await self._log.insert_many([entry | {"expires_at": expires} for entry in entries], ordered=False)
        return [None] * len(entries)

    async def recovered(self, endpoint: dict[str, Any]) -> None:
        """A delivery succeeded: the endpoint is failing no more."""
        await self._col.update_one({"_id": endpoint["_id"]}, {"$set": {"failing_since": None}})

    async def failing(self, endpoint: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """A delivery failed: the endpoint is failing since its first failure after a success;
        failing for DISABLED_AFTER it is disabled. Returns the endpoint if this disabled it."""
        await self._col.update_one(
            {"_id": endpoint["_id"], "failing_since": None}, {"$set": {"failing_since": now}}
        )
        since = endpoint.get("failing_since") or now
        if now - since < DISABLED_AFTER:
            return None
        reason = f"every delivery failed since {since:%Y-%m-%d %H:%M} UTC"
        return await modify_one(
            self._col,
            {"_id": endpoint["_id"], "active": True},
            {"$set": {"active": False, "disabled_reason": reason, "updated_at": now}},
        )

    async def deliveries(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        endpoint = await self.get(endpoint_id)
        return await self._log.find({"endpoint_id": endpoint["_id"]}).sort("at", -1).to_list(limit)

    async def send_again(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        """The logged delivery's event once more, to the endpoint (the same webhook-id, so a
        receiver that had it can tell)."""
        endpoint = await self.get(endpoint_id)
        entry = await self._log.find_one(
            {"_id": object_id(delivery_id, "delivery"), "endpoint_id": endpoint["_id"]}
        )
        if entry is None:
            raise NotFound(f"delivery {delivery_id} not found")
        job = new_job(WEBHOOK, {"endpoint_id": endpoint["_id"], "webhook_id": entry["webhook_id"],
                                "event": entry["event"], "again": True})  # fmt: skip
        await enqueue(self._db, job)
        return job


class WebhookFanout:
    """The listener: each public event to every active endpoint that asked for its type."""

    name = "webhooks"
    types = EVENT_TYPES
    gather_seconds = 0.0  # receivers wait on it: deliver at once

    def __init__(self, db: AsyncDatabase) -> None:
        self._endpoints = db.webhook_endpoints
        self._db = db

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        wanted = {e["type"] for e in events}
        endpoints = await self._endpoints.find(
            {"active": True, "events": {"$in": list(wanted)}}, {"events": 1}, session=session
        ).to_list(None)
        jobs = [
            delivery_job(event, endpoint["_id"])
            for event in events
            for endpoint in endpoints
            if event["type"] in endpoint["events"]
        ]
        await enqueue_many(self._db, jobs, session)


def delivery_job(event: Event, endpoint_id: ObjectId) -> dict[str, Any]:
    """The delivery of one event to one endpoint: its `webhook-id` (and the job's key) is the
    same however often it is made, so receivers and the queue each see it once."""
    webhook_id = f"msg_{event['_id']}_{endpoint_id}"
    payload = {"endpoint_id": endpoint_id, "webhook_id": webhook_id, "event": public_event(event)}
    return new_job(WEBHOOK, payload, key=f"webhook:{event['_id']}:{endpoint_id}")
