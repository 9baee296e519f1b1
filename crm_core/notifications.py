"""Tells staff about work handed to them and tickets past their SLA, as a listener of domain
events: a notification record (which the realtime stream carries to their websocket) and,
when Slack is set up, a Slack DM through the job queue (retried there; a slow Slack delays
nothing else)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.domain_events import Event
from crm_core.jobs import enqueue, staff_dm_job
from crm_core.live import LiveEvent, LivePublisher
from crm_core.records import utcnow


class Notifications:
    name = "notifications"
    gather_seconds = 0.0
    types = ("lead.assigned", "ticket.sla_warning", "ticket.breached")

    def __init__(self, db: AsyncDatabase, events: LivePublisher, *, slack_dm: bool) -> None:
        self._db = db
        self._events = events
        self._slack_dm = slack_dm

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        for event in events:
            if event["type"] == "lead.assigned":
                await self._lead_assigned(event, session)
            elif (
                event["type"] in ("ticket.sla_warning", "ticket.breached")
                and event["assignee_id"] is not None
            ):
                await self._ticket_sla(event, session)

    async def _lead_assigned(self, event: Event, session: AsyncClientSession) -> None:
        lead = await self._db.leads.find_one({"_id": event["lead_id"]}, session=session)
        if lead is None:
            return
        contact = await self._db.contacts.find_one(
            {"_id": lead["contact_id"]}, {"name": 1, "company": 1}, session=session
        )
        who = " at ".join(filter(None, [(contact or {}).get("name"), (contact or {}).get("company")]))
        signals = ", ".join(f"{s['signal']} ({s['evidence']})" for s in lead["signals"])
        text = (
            f"New qualified lead for you: {who or 'a new contact'}, score {lead['score']}. "
            f"Signals: {signals or 'none'}."
        )
        key = f"lead.assigned:{lead['_id']}:{event['owner_id']}"
        await self._notify(key, event["owner_id"], "lead.assigned", text, {"lead_id": lead["_id"]}, session)

    async def _ticket_sla(self, event: Event, session: AsyncClientSession) -> None:
        """An SLA about to breach, or breached, on the assignee's ticket."""
        ticket = await self._db.tickets.find_one({"_id": event["ticket_id"]}, {"subject": 1}, session=session)
        what = "first response" if event["sla"] == "first_response" else "resolution"
        subject = (ticket or {}).get("subject") or "a ticket"
        kind = event["type"]
        if kind == "ticket.breached":
            due = f"{event['at']:%Y-%m-%d %H:%M} UTC"
            text = f'SLA breached: the {what} of "{subject}" ({event["priority"]}) was due at {due}.'
        else:
            due = f"{event['due_at']:%Y-%m-%d %H:%M} UTC"
            text = f'SLA about to breach: the {what} of "{subject}" ({event["priority"]}) is due at {due}.'
        key = f"{kind}:{event['ticket_id']}:{event['sla']}"
        refs = {"ticket_id": event["ticket_id"], "conversation_id": event["conversation_id"]}
        await self._notify(key, event["assignee_id"], kind, text, refs, session)

    async def _notify(
        self,
        key: str,
        user_id: ObjectId,
        kind: str,
        text: str,
        refs: dict[str, Any],
        session: AsyncClientSession | None,
    ) -> None:
        """Record and deliver a notification unless the one with this key exists already."""
        notification = {"user_id": user_id, "kind": kind, "text": text, **refs, "read_at": None}
        notification["created_at"] = utcnow()
        written = await self._db.notifications.update_one(
            {"_id": key}, {"$setOnInsert": notification}, upsert=True, session=session
        )
        if written.upserted_id is None:
            return
        if self._slack_dm:
            user = await self._db.users.find_one({"_id": user_id}, {"links": 1, "email": 1}, session=session)
            if user is not None:
                await enqueue(self._db, staff_dm_job(user, text), session)
        self._events.publish(LiveEvent.NOTIFICATION_CREATED, {"_id": key, **notification})

    async def mentioned(
        self,
        note: dict[str, Any],
        author: dict[str, Any],
        user_ids: list[ObjectId],
        session: AsyncClientSession,
    ) -> None:
        """Tell each colleague named in a private note, in the note's own transaction."""
        who = author.get("name") or author["email"]
        excerpt = note["text"] if len(note["text"]) <= 140 else note["text"][:139] + "…"
        refs = {"conversation_id": note["conversation_id"], "message_id": note["_id"]}
        for user_id in user_ids:
            key = f"mention:{note['_id']}:{user_id}"
            await self._notify(key, user_id, "mention", f"{who} mentioned you: {excerpt}", refs, session)

    async def webhook_disabled(self, endpoint: dict[str, Any]) -> None:
        """Tell every active admin that a webhook endpoint was disabled, and why."""
        why = endpoint.get("disabled_reason") or "it kept failing"
        text = f"Webhook endpoint {endpoint['url']} was disabled: {why}."
        admins = await self._db.users.find({"role": "admin", "active": True}, {"_id": 1}).to_list(None)
        for admin in admins:
            key = f"webhook.disabled:{endpoint['_id']}:{endpoint['updated_at']:%Y%m%d%H%M%S}:{admin['_id']}"
            await self._notify(
                key, admin["_id"], "webhook.disabled", text, {"endpoint_id": endpoint["_id"]}, None
            )

    async def recent(self, user_id: ObjectId, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """A user's latest notifications, newest first, and how many of all theirs are unread."""
        mine = {"user_id": user_id}
        items = await self._db.notifications.find(mine).sort("created_at", -1).to_list(limit)
        unread = await self._db.notifications.count_documents({**mine, "read_at": None})
        return items, unread

    async def mark_read(self, user_id: ObjectId, ids: list[ObjectId | str] | None) -> int:
        """Mark these of the user's notifications read (all of them without `ids`); returns how
        many are still unread. Another user's ids are not theirs to mark: they are left alone."""
        where: dict[str, Any] = {"user_id": user_id, "read_at": None}
        if ids is not None:
            where["_id"] = {"$in": ids}
        await self._db.notifications.update_many(where, {"$set": {"read_at": utcnow()}})
        return await self._db.notifications.count_documents({"user_id": user_id, "read_at": None})
