"""Tells staff about work handed to them: a notification record (which the realtime stream
carries to their websocket) and, when Slack is configured and they linked it, a Slack DM."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core.records import Events, utcnow

log = logging.getLogger(__name__)
# Sends a DM to a staff user (their record) on Slack; False when they have no Slack account.
SlackDm = Callable[[dict[str, Any], str], Awaitable[bool]]


class Notifier:
    def __init__(self, db: AsyncDatabase, events: Events) -> None:
        self._db = db
        self._events = events
        self.slack_dm: SlackDm | None = None  # set once the Slack bot is up

    async def lead_assigned(self, lead: dict[str, Any]) -> bool:
        """Tell the lead's owner, once per lead and owner (asking again is harmless: automation
        asks at every message of a qualified lead, so a crash before telling is made good)."""
        contact = (
            await self._db.contacts.find_one({"_id": lead["contact_id"]}, {"name": 1, "company": 1}) or {}
        )
        who = " at ".join(filter(None, [contact.get("name"), contact.get("company")])) or "a new contact"
        signals = ", ".join(f"{s['signal']} ({s['evidence']})" for s in lead["signals"])
        text = f"New qualified lead for you: {who}, score {lead['score']}. Signals: {signals or 'none'}."
        key = f"lead.assigned:{lead['_id']}:{lead['owner_id']}"
        return await self._notify(key, lead["owner_id"], "lead.assigned", text, {"lead_id": lead["_id"]})

    async def _notify(self, key: str, user_id: ObjectId, kind: str, text: str, refs: dict[str, Any]) -> bool:
        """Record and deliver a notification unless the one with this key exists already."""
        notification = {"_id": key, "user_id": user_id, "kind": kind, "text": text, **refs}
        notification |= {"read_at": None, "created_at": utcnow()}
        try:
            await self._db.notifications.insert_one(notification)
        except DuplicateKeyError:
            return False
        self._events.publish("notification.created", notification)
        if self.slack_dm is None:
            return True
        user = await self._db.users.find_one({"_id": user_id}, {"links": 1, "email": 1})
        if user is not None:
            try:
                await self.slack_dm(user, text)
            except Exception as exc:
                # The notification record stands; a Slack outage must not undo the assignment.
                log.warning(
                    "Slack DM failed", extra={"kind": kind, "error": f"{exc.__class__.__name__}: {exc}"}
                )
        return True
