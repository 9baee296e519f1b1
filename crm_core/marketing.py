"""Marketing: campaigns of timed steps sent to enrolled contacts, with consent respected.

An enrolment is the contact's place in a campaign. The scheduler claims due enrolments with
leases; sending a step (message, its delivery job, enrolment advanced) is one transaction, so a
step is never sent twice, and a crash before it commits leaves the step to be sent again."""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core.audit import Audited, audit_edit
from crm_core.contacts import Consent, Contacts
from crm_core.conversations import Conversations
from crm_core.errors import Conflict, Invalid
from crm_core.records import (
    changed_fields,
    check_one_of,
    find_by_id,
    modify_one,
    save_changes,
    transaction,
    utcnow,
)
from crm_core.vocabularies import CAMPAIGN_STATUSES

TEMPLATE_FIELDS = ("name", "first_name", "company", "email")
ENDED = ("completed", "opted_out", "failed", "stopped")
PAUSED_RECHECK = timedelta(minutes=15)


class StaleClaim(Exception):
    """Another scheduler advanced this enrolment first; the step is theirs to send."""


@dataclass(frozen=True)
class Enrolled:
    enrolment: dict[str, Any] | None
    reason: str  # "enrolled", or why not: "no_consent", "already_enrolled", "no_campaign", "inactive"


def check_steps(steps: list[dict[str, Any]], channels: Sequence[str]) -> None:
    if not steps:
        raise Invalid("steps: a campaign needs at least one step")
    for index, step in enumerate(steps):
        if step["channel"] not in channels:
            raise Invalid(f"steps.{index}.channel: must be one of {', '.join(channels)}")
        for field in ("template", "subject"):
            _check_template(step.get(field) or "", f"steps.{index}.{field}")


def _check_template(template: str, where: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise Invalid(f"{where}: {exc}") from exc
    if unknown := names - set(TEMPLATE_FIELDS):
        raise Invalid(
            f"{where}: unknown field {{{sorted(unknown)[0]}}}; "
            f"use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        )


def render(template: str, contact: dict[str, Any]) -> str:
    name = contact.get("name") or ""
    values = {
        "name": name or "there",
        "first_name": name.split()[0] if name.strip() else "there",
        "company": contact.get("company") or "your company",
        "email": (contact.get("emails") or [""])[0],
    }
    return template.format_map(values)


class Campaigns:
    def __init__(
        self,
        db: AsyncDatabase,
        conversations: Conversations,
        contacts: Contacts,
        *,
        channels: Sequence[str],
        unsubscribe_url: Callable[[ObjectId], str] | None = None,
        lease_seconds: float = 60.0,
    ) -> None:
        self._db = db
        self._col = db.campaigns
        self._enrolments = db.enrolments
        self._conversations = conversations
        self._contacts = contacts
        self._channels = channels  # the hub's channel registry
        self._unsubscribe_url = unsubscribe_url
        self._lease = timedelta(seconds=lease_seconds)

    # Campaigns.

    async def create(self, fields: dict[str, Any], audited: Audited | None = None) -> dict[str, Any]:
        check_steps(fields["steps"], self._channels)
        now = utcnow()
        campaign = {"_id": ObjectId(), "status": "active", **fields, "created_at": now, "updated_at": now}
        try:
            async with transaction(self._db) as session:
                await self._col.insert_one(campaign, session=session)
                if audited is not None:
                    await audited.record(self._db, campaign["_id"], None, session)
        except DuplicateKeyError as exc:
            raise Conflict(f"a campaign with key {fields['key']!r} exists") from exc
        return campaign

    async def get(self, campaign_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, campaign_id, "campaign")

    async def list(self) -> list[dict[str, Any]]:
        return await self._col.find({"status": {"$ne": "archived"}}).sort("created_at", -1).to_list(500)

    async def update(
        self, campaign_id: str | ObjectId, changes: dict[str, Any], audited: Audited | None = None
    ) -> tuple[dict, dict]:
        """Change steps, status or name; returns (new, old values), read in the transaction
        that changes it."""
        if "steps" in changes:
            check_steps(changes["steps"], self._channels)
        check_one_of(changes, "status", CAMPAIGN_STATUSES)
        async with transaction(self._db) as session:
            current = await find_by_id(self._col, campaign_id, "campaign", session)
            changed = changed_fields(current, changes)
            if not changed:
                return current, {}
            campaign, old = await save_changes(self._col, current, changed, session)
            await audit_edit(self._db, audited, campaign, old, session)
            return campaign, old

    async def results(self, campaign_id: ObjectId) -> dict[str, int]:
        """Enrolled, sent, failed, replied, opted out (and where enrolments stand now)."""
        replied = {"$cond": [{"$gt": ["$replied_at", None]}, 1, 0]}
        by_status = await self._enrolments.aggregate(
            [
                {"$match": {"campaign_id": campaign_id}},
                {"$group": {"_id": "$status", "n": {"$sum": 1}, "replied": {"$sum": replied}}},
            ]
        )
        rows = await by_status.to_list(None)
        statuses = {row["_id"]: row["n"] for row in rows}
        by_delivery = await self._db.messages.aggregate(
            [
                {"$match": {"campaign.id": campaign_id}},
                {"$group": {"_id": "$delivery.status", "n": {"$sum": 1}}},
            ]
        )
        deliveries = {row["_id"]: row["n"] async for row in by_delivery}
        return {
            "enrolled": sum(statuses.values()),
            "active": statuses.get("active", 0),
            "paused": statuses.get("paused", 0),
            "completed": statuses.get("completed", 0),
            "sent": deliveries.get("sent", 0),
            "pending": deliveries.get("pending", 0) + deliveries.get("retrying", 0),
            "failed": deliveries.get("failed", 0) + statuses.get("failed", 0),
            "replied": sum(row["replied"] for row in rows),
            "opted_out": statuses.get("opted_out", 0),
        }

    # Enrolments.

    async def enrol(self, campaign: str | ObjectId, contact_id: ObjectId, *, source: str) -> Enrolled:
        """Put a contact at the start of a campaign (by key or id), if they consented to marketing."""
        query = {"_id": campaign} if isinstance(campaign, ObjectId) else {"key": campaign}
        found = await self._col.find_one(query)
        if found is None:
            return Enrolled(None, "no_campaign")
        if found["status"] != "active":
            return Enrolled(None, "inactive")
        contact = await self._db.contacts.find_one({"_id": contact_id}, {"consent": 1})
        if not (contact or {}).get("consent", {}).get("marketing"):
            return Enrolled(None, "no_consent")
        now = utcnow()
        enrolment = {
            "_id": ObjectId(),
            "campaign_id": found["_id"],
            "contact_id": contact_id,
            "status": "active",
            "step": 0,
            "next_at": now + timedelta(minutes=found["steps"][0]["delay_minutes"]),
            "lease_until": None,
            "sent": [],
            "source": source,
            "replied_at": None,
            "enrolled_at": now,
        }
        try:
            await self._enrolments.insert_one(enrolment)
        except DuplicateKeyError:
            return Enrolled(None, "already_enrolled")
        return Enrolled(enrolment, "enrolled")

    async def enrolments(self, campaign_id: ObjectId, limit: int = 100) -> list[dict[str, Any]]:
        return (
            await self._enrolments.find({"campaign_id": campaign_id}).sort("enrolled_at", -1).to_list(limit)
        )

    async def pause_for_reply(self, contact_id: ObjectId, at: datetime) -> int:
        """The customer wrote back: stop sending them steps, an agent takes it from here."""
        result = await self._enrolments.update_many(
            {"contact_id": contact_id, "status": "active", "enrolled_at": {"$lt": at}},
            {"$set": {"status": "paused", "replied_at": at, "lease_until": None}},
        )
        return result.modified_count

    async def opt_out(self, contact_id: ObjectId, *, source: str) -> None:
        """Record the opt-out and end every enrolment of the contact."""
        await self._contacts.set_consent(contact_id, Consent(marketing=False, source=source))
        await self._enrolments.update_many(
            {"contact_id": contact_id, "status": {"$nin": list(ENDED)}},
            {"$set": {"status": "opted_out", "ended_at": utcnow(), "lease_until": None}},
        )

    # The scheduler's side.

    async def claim_due(self) -> dict[str, Any] | None:
        now = utcnow()
        # Not leased, or its lease ran out: `$not` matches a missing or null lease too.
        return await modify_one(
            self._enrolments,
            {"status": "active", "next_at": {"$lte": now}, "lease_until": {"$not": {"$gte": now}}},
            {"$set": {"lease_until": now + self._lease}},
            sort=[("next_at", 1)],
        )

    async def next_due_at(self) -> datetime | None:
        due = await self._enrolments.find_one({"status": "active"}, {"next_at": 1}, sort=[("next_at", 1)])
        return due["next_at"] if due else None

    async def send_step(self, enrolment: dict[str, Any]) -> dict[str, Any] | None:
        """Send the enrolment's next step through the job queue; the message, or None when the
        step cannot be sent (campaign gone or paused, no conversation on that channel)."""
        campaign = await self._col.find_one({"_id": enrolment["campaign_id"]})
        if campaign is None or campaign["status"] != "active":
            # Gone: the enrolment ends. Paused: look again later.
            later = {"next_at": utcnow() + PAUSED_RECHECK}
            await self._release(enrolment, {"status": "stopped"} if campaign is None else later)
            return None
        index = enrolment["step"]
        if index >= len(campaign["steps"]):  # the campaign lost steps since: nothing left to send
            await self._release(enrolment, {"status": "completed", "ended_at": utcnow()})
            return None
        step = campaign["steps"][index]
        contact = await self._db.contacts.find_one({"_id": enrolment["contact_id"]})
        if contact is None or not contact["consent"].get("marketing"):
            # Consent withdrawn some other way since enrolment (staff, an import): stop here.
            await self._release(enrolment, {"status": "opted_out", "ended_at": utcnow()})
            return None
        text = render(step["template"], contact)
        if step["channel"] == "email":
            conversation_id = await self._email_thread(campaign, step, contact)
            if conversation_id is not None and self._unsubscribe_url is not None:
                text += f"\n\n--\nTo stop receiving these emails: {self._unsubscribe_url(contact['_id'])}"
        else:
            conversation_id = await self._latest_conversation(contact["_id"], step["channel"])
        if conversation_id is None:
            where = "email address" if step["channel"] == "email" else f"{step['channel']} conversation"
            await self._release(enrolment, {"status": "failed", "error": f"the contact has no {where}"})
            return None
        following = campaign["steps"][index + 1] if index + 1 < len(campaign["steps"]) else None

        async def advance(session: AsyncClientSession) -> None:
            now = utcnow()
            fields: dict[str, Any] = {"step": index + 1, "lease_until": None}
            if following is None:
                fields |= {"status": "completed", "ended_at": now}
            else:
                fields["next_at"] = now + timedelta(minutes=following["delay_minutes"])
            moved = await self._enrolments.update_one(
                {"_id": enrolment["_id"], "step": index, "status": "active"},
                {"$set": fields, "$push": {"sent": {"step": index, "at": now}}},
                session=session,
            )
            if moved.modified_count == 0:
                raise StaleClaim

        sender = {"type": "bot", "id": campaign["_id"], "name": campaign["name"]}
        try:
            return await self._conversations.add_outbound(
                conversation_id,
                text,
                sender,
                fields={"campaign": {"id": campaign["_id"], "step": index}},
                within=advance,
            )
        except StaleClaim:
            return None

    async def _latest_conversation(self, contact_id: ObjectId, channel: str) -> ObjectId | None:
        """Chat-like channels can only answer where the customer wrote: their latest thread."""
        conversation = await self._db.conversations.find_one(
            {"contact_id": contact_id, "channel": channel}, {"_id": 1}, sort=[("last_message_at", -1)]
        )
        return conversation["_id"] if conversation else None

    async def _email_thread(self, campaign: dict, step: dict, contact: dict) -> ObjectId | None:
        """Email reaches any contact with an address, in a thread of its own per campaign (not
        as a reply in a support thread), with one-click unsubscribe (RFC 8058) in its headers.
        A customer's answer threads into it by its Message-ID."""
        address = next(iter(contact.get("emails") or []), None)
        if address is None:
            return None
        subject = render(step.get("subject") or campaign["name"], contact)
        route: dict[str, Any] = {"to": address, "subject": subject}
        if self._unsubscribe_url is not None:
            route["list_unsubscribe"] = self._unsubscribe_url(contact["_id"])
        return await self._conversations.outbound_thread(
            "email",
            f"campaign:{campaign['_id']}:{contact['_id']}",
            contact["_id"],
            route=route,
            subject=subject,
        )

    async def _release(self, enrolment: dict[str, Any], fields: dict[str, Any]) -> None:
        await self._enrolments.update_one(
            {"_id": enrolment["_id"]}, {"$set": {"lease_until": None, **fields}}
        )
