"""Tells staff about work handed to them: a notification record (which the realtime stream
carries to their websocket) and, when Slack is configured and they linked it, a Slack DM."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.records import Events, utcnow

log = logging.getLogger(__name__)
# Sends a DM to a staff user (their record) on Slack; False when they have no Slack account.
SlackDm = Callable[[dict[str, Any], str], Awaitable[bool]]


class Notifier:
    def __init__(self, db: AsyncDatabase, events: Events) -> None:
        self._db = db
        self._events = events
        self.slack_dm: SlackDm | None = None  # set once the Slack bot is up

    async def lead_assigned(self, lead: dict[str, Any]) -> None:
        contact = (
            await self._db.contacts.find_one({"_id": lead["contact_id"]}, {"name": 1, "company": 1}) or {}
        )
        who = " at ".join(filter(None, [contact.get("name"), contact.get("company")])) or "a new contact"
        signals = ", ".join(f"{s['signal']} ({s['evidence']})" for s in lead["signals"])
        text = f"New qualified lead for you: {who}, score {lead['score']}. Signals: {signals or 'none'}."
        await self._notify(lead["owner_id"], "lead.assigned", text, {"lead_id": lead["_id"]})

    async def _notify(self, user_id: ObjectId, kind: str, text: str, refs: dict[str, Any]) -> None:
        notification = {"_id": ObjectId(), "user_id": user_id, "kind": kind, "text": text, **refs}
        notification |= {"read_at": None, "created_at": utcnow()}
        await self._db.notifications.insert_one(notification)
        self._events.publish("notification.created", notification)
        if self.slack_dm is None:
            return
        user = await self._db.users.find_one({"_id": user_id}, {"links": 1, "email": 1})
        if user is not None:
            try:
                await self.slack_dm(user, text)
            except Exception as exc:
                # The notification record stands; a Slack outage must not undo the assignment.
                log.warning(
                    "Slack DM failed", extra={"kind": kind, "error": f"{exc.__class__.__name__}: {exc}"}
                )
