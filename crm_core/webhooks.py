"""Outbound webhooks (Standard Webhooks): the endpoints admins register, the fan-out of public
domain events to the endpoints that want them, and each endpoint's delivery log. Sending is the
hub's (hub.webhook_delivery).

The fan-out is an outbox (`crm_core.domain_events`): in the transaction that records events it
queues one `webhook` job per endpoint that wants some of them, holding those deliveries. A
listener in its place met the other listeners' transactions on the same event records about
thirty times a second under load, and a job per delivery cost four document writes each
(bench/README.md). A job's deliveries that failed are retried together on the job's schedule;
those that succeeded are remembered in its progress and not sent again."""

from __future__ import annotations

import base64
import secrets
import time
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
# Endpoints are read once in this long for the fan-out and the deliveries: another process's
# change to one reaches this process this late at most (this process's own changes at once).
ENDPOINTS_CACHED_SECONDS = 2.0


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
        self._active: tuple[float, list[dict[str, Any]]] | None = None  # when read, and what
        self._read: dict[ObjectId, tuple[float, dict[str, Any] | None]] = {}  # each, when read

    async def active(self) -> list[dict[str, Any]]:
        """The active endpoints' ids and wanted events, as read at most ENDPOINTS_CACHED_SECONDS ago."""
        if self._active is None or time.monotonic() - self._active[0] > ENDPOINTS_CACHED_SECONDS:
            found = await self._col.find({"active": True}, {"events": 1}).to_list(None)
            self._active = (time.monotonic(), found)
        return self._active[1]

    async def cached(self, endpoint_id: ObjectId) -> dict[str, Any] | None:
        """The endpoint as read at most ENDPOINTS_CACHED_SECONDS ago (None: removed): one read per
        endpoint and moment, not per delivery."""
        read = self._read.get(endpoint_id)
        if read is None or time.monotonic() - read[0] > ENDPOINTS_CACHED_SECONDS:
            read = (time.monotonic(), await self._col.find_one({"_id": endpoint_id}))
            self._read[endpoint_id] = read
        return read[1]

    def _changed(self) -> None:
        """This process changed an endpoint: both caches are read afresh."""
        self._active = None
        self._read.clear()

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
        self._changed()
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
        self._changed()
        return updated

    async def delete(self, endpoint_id: str, audited: Audited) -> None:
        oid = object_id(endpoint_id, "webhook endpoint")
        async with transaction(self._db) as session:
            removed = await self._col.delete_one({"_id": oid}, session=session)
            if not removed.deleted_count:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            await audited.record(self._db, oid, {}, session)
        self._changed()

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
        self._changed()
        return updated, secret

    async def log(self, tries: Sequence[dict[str, Any]]) -> list[None]:
        """Jobs' tries (each with its `endpoint_id` and the outcome of each of its `deliveries`),
        in the endpoints' logs: one record per try, not per delivery, as a try of a hundred
        deliveries is one write."""
        expires = utcnow() + LOG_KEPT
        await self._log.insert_many([entry | {"expires_at": expires} for entry in tries], ordered=False)
        return [None] * len(tries)

    async def recovered(self, endpoint: dict[str, Any]) -> None:
        """A delivery succeeded: the endpoint is failing no more."""
        await self._col.update_one({"_id": endpoint["_id"]}, {"$set": {"failing_since": None}})
        self._changed()

    async def failing(self, endpoint: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """A delivery failed: the endpoint is failing since its first failure after a success;
        failing for DISABLED_AFTER it is disabled. Returns the endpoint if this disabled it."""
        marked = await self._col.update_one(
            {"_id": endpoint["_id"], "failing_since": None}, {"$set": {"failing_since": now}}
        )
        if marked.modified_count:
            self._changed()
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
        """The endpoint's latest deliveries, newest first, each with its try's job and attempt."""
        endpoint = await self.get(endpoint_id)
        tries = await self._log.find({"endpoint_id": endpoint["_id"]}).sort("at", -1).to_list(limit)
        made = [
            delivery | {"job_id": one["job_id"], "attempt": one["attempt"]}
            for one in tries
            for delivery in one["deliveries"]
        ]
        return sorted(made, key=lambda delivery: delivery["at"], reverse=True)[:limit]

    async def send_again(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        """The logged delivery's event once more, to the endpoint (the same webhook-id, so a
        receiver that had it can tell)."""
        endpoint = await self.get(endpoint_id)
        oid = object_id(delivery_id, "delivery")
        logged = await self._log.find_one({"endpoint_id": endpoint["_id"], "deliveries._id": oid})
        entry = next((d for d in (logged or {}).get("deliveries", []) if d["_id"] == oid), None)
        if entry is None:
            raise NotFound(f"delivery {delivery_id} not found")
        delivery = {"webhook_id": entry["webhook_id"], "event": entry["event"]}
        job = new_job(WEBHOOK, {"endpoint_id": endpoint["_id"], "deliveries": [delivery]})
        await enqueue(self._db, job)
        return job


class WebhookOutbox:
    """Each recorded public event to every active endpoint that asked for its type."""

    name = "webhooks"

    def __init__(self, db: AsyncDatabase, endpoints: WebhookEndpoints) -> None:
        self._db = db
        self._endpoints = endpoints

    async def queue(self, events: list[Event], session: AsyncClientSession | None) -> bool:
        jobs = [
            delivery_job(wanted, endpoint["_id"])
            for endpoint in await self._endpoints.active()
            if (wanted := [event for event in events if event["type"] in endpoint["events"]])
        ]
        await enqueue_many(self._db, jobs, session)
        return bool(jobs)


def delivery_job(events: list[Event], endpoint_id: ObjectId) -> dict[str, Any]:
    """The deliveries of events to one endpoint. Each delivery's `webhook-id` (and the job's key)
    is the same however often it is made, so receivers and the queue each see it once."""
    deliveries = [
        {"webhook_id": f"msg_{event['_id']}_{endpoint_id}", "event": public_event(event)} for event in events
    ]
    payload = {"endpoint_id": endpoint_id, "deliveries": deliveries}
    return new_job(WEBHOOK, payload, key=f"webhook:{events[0]['_id']}:{endpoint_id}")
