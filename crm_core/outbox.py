"""Durable outbound queue: one entry per message to deliver, claimed with leases so that
several hub processes never send the same entry at the same time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.live import LivePublisher
from crm_core.records import modify_one, utcnow


def new_outbox_entry(message: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    return _entry(
        conversation["channel"],
        conversation.get("route", {}),
        message["text"],
        message_id=message["_id"],
        conversation_id=conversation["_id"],
    )


def staff_dm_entry(user: dict[str, Any], text: str) -> dict[str, Any]:
    """A direct message to a staff user on Slack: the account they linked, else the one
    with their email (the sender looks it up)."""
    staff = {"slack_user": user.get("links", {}).get("slack"), "email": user.get("email")}
    return _entry("slack", {"staff": staff}, text)


def _entry(
    channel: str,
    route: dict[str, Any],
    text: str,
    *,
    message_id: ObjectId | None = None,
    conversation_id: ObjectId | None = None,
) -> dict[str, Any]:
    now = utcnow()
    return {
        "_id": ObjectId(),
        "message_id": message_id,
        "conversation_id": conversation_id,
        "channel": channel,
        "route": route,
        "text": text,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "last_error": None,
        "created_at": now,
    }


class Outbox:
    def __init__(
        self,
        db: AsyncDatabase,
        events: LivePublisher,
        *,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self._col = db.outbox
        self._messages = db.messages
        self._events = events
        self.max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._lease = timedelta(seconds=lease_seconds)

    async def claim(self) -> dict[str, Any] | None:
        """Take an entry whose sender died mid-lease, else the next due one, for this worker
        (two look-ups: an `$or` of both is served by no index on the embedded server)."""
        now = utcnow()
        take = {"$set": {"status": "sending", "lease_until": now + self._lease}, "$inc": {"attempts": 1}}
        orphaned = {"status": "sending", "lease_until": {"$lt": now}}
        due = {"status": "pending", "next_attempt_at": {"$lte": now}}
        return await modify_one(self._col, orphaned, take) or await modify_one(
            self._col, due, take, sort=[("next_attempt_at", 1)]
        )

    async def next_due_at(self) -> datetime | None:
        entry = await self._col.find_one(
            {"status": "pending"}, {"next_attempt_at": 1}, sort=[("next_attempt_at", 1)]
        )
        return entry["next_attempt_at"] if entry else None

    async def mark_sent(self, entry: dict[str, Any], external_id: str | None) -> None:
        now = utcnow()
        await self._col.update_one(
            {"_id": entry["_id"], "status": "sending"},
            {"$set": {"status": "sent", "sent_at": now, "last_error": None, "lease_until": None}},
        )
        delivery = {"status": "sent", "attempts": entry["attempts"], "error": None, "sent_at": now}
        await self._set_delivery(entry, delivery, external_id)

    async def mark_failed(
        self,
        entry: dict[str, Any],
        error: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        parts_sent: int = 0,
    ) -> str:
        """Schedule a retry with exponential backoff, or give up for good; returns
        the delivery status that results ("retrying" or "failed"). `parts_sent` keeps how much
        of a message sent in parts is delivered, so the retry sends only the rest."""
        attempts = entry["attempts"]
        if retryable and attempts < self.max_attempts:
            delay = retry_after if retry_after is not None else self._backoff(attempts)
            status, fields = "pending", {"next_attempt_at": utcnow() + timedelta(seconds=delay)}
            delivery_status = "retrying"
        else:
            status, fields, delivery_status = "failed", {"failed_at": utcnow()}, "failed"
        await self._col.update_one(
            {"_id": entry["_id"], "status": "sending"},
            {
                "$set": {
                    "status": status,
                    "last_error": error,
                    "lease_until": None,
                    "parts_sent": parts_sent,
                    **fields,
                }
            },
        )
        await self._set_delivery(entry, {"status": delivery_status, "attempts": attempts, "error": error})
        return delivery_status

    def _backoff(self, attempts: int) -> float:
        return min(self._backoff_base * 2 ** (attempts - 1), self._backoff_cap)

    async def _set_delivery(
        self, entry: dict, delivery: dict[str, Any], external_id: str | None = None
    ) -> None:
        if entry["message_id"] is None:  # a direct message to staff: no message record
            return
        fields: dict[str, Any] = {"delivery": delivery}
        if external_id:
            fields["external_id"] = external_id
        message = await modify_one(self._messages, {"_id": entry["message_id"]}, {"$set": fields})
        if message is not None:
            self._events.publish("message.updated", message)
