"""Who changed what, for every change a staff user makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.domain_events import Event
from crm_core.records import id_or_key, object_id, utcnow

# The kinds of record whose changes are audited, and can be read back by GET /api/v1/audit.
AUDITED = ("conversation", "contact", "user", "ticket", "lead", "deal", "campaign", "rules", "job")


def stored_target_id(target_type: str, target_id: str) -> Any:
    """How an audited record's id is stored: an ObjectId, but the one rules record is named
    (`rules.RULES_ID`) and a job may be named by its key."""
    if target_type == "rules":
        return target_id
    return id_or_key(target_id) if target_type == "job" else object_id(target_id, target_type)


@dataclass(frozen=True)
class Audited:
    """A staff change as the audit trail names it: who, what, on which kind of record. Handed
    to the domain method that makes the change, which writes the entry in the change's own
    transaction, so there is never a change without its entry, nor an entry without its change."""

    actor: dict[str, Any]
    action: str
    target_type: str
    details: dict[str, Any] | None = None  # more to keep with every entry (where it was done)

    async def record(
        self,
        db: AsyncDatabase,
        target_id: ObjectId | str,
        changes: dict[str, Any] | None,
        session: AsyncClientSession | None,
    ) -> None:
        entry = {
            "actor_id": self.actor["_id"],
            "actor_email": self.actor.get("email"),
            # A person, or an integration's API key (named so the trail says which).
            "actor_kind": self.actor.get("kind", "user"),
            "actor_name": self.actor.get("name"),
            "action": self.action,
            "target_type": self.target_type,
            "target_id": target_id,
            "changes": (changes or {}) | (self.details or {}),
            "at": utcnow(),
        }
        await db.audit.insert_one(entry, session=session)


async def audit_edit(
    db: AsyncDatabase,
    audited: Audited | None,
    record: dict[str, Any],
    old: dict[str, Any],
    session: AsyncClientSession,
    **more: Any,
) -> None:
    """Record an edit in its transaction: the fields that changed, from and to (and `more`);
    nothing when no field changed or nobody is audited (automation's own changes)."""
    if audited is not None and (old or more):
        await audited.record(db, record["_id"], diff(old, record) | more, session)


class Audit:
    def __init__(self, db: AsyncDatabase) -> None:
        self._col = db.audit

    async def for_target(
        self, target_type: str, target_id: ObjectId | str, limit: int = 100
    ) -> list[dict[str, Any]]:
        return (
            await self._col.find({"target_type": target_type, "target_id": target_id})
            .sort("at", -1)
            .to_list(limit)
        )


class AutomationAudit:
    """Audits what automation changed, naming the rule as the actor: a listener of the
    domain events whose actor is a rule (staff changes are audited by their routes)."""

    name = "audit"
    gather_seconds = 0.5
    types = ("conversation.status_changed", "ticket.opened", "lead.qualified", "lead.assigned")
    _TARGETS = {"conversation": "conversation_id", "ticket": "ticket_id", "lead": "lead_id"}

    def __init__(self, db: AsyncDatabase) -> None:
        self._col = db.audit

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        entries = [self._entry(event) for event in events if (event.get("actor") or {}).get("type") == "rule"]
        if entries:
            await self._col.insert_many(entries, session=session)

    def _entry(self, event: Event) -> dict[str, Any]:
        target_type = event["type"].split(".")[0]
        changes = {k: event[k] for k in ("status", "priority", "owner_id", "score") if k in event}
        return {
            "_id": event["_id"],  # one entry per event
            "actor_id": None,
            "actor_email": None,
            "actor_rule": event["actor"]["rule"],
            "action": event["type"],
            "target_type": target_type,
            "target_id": event[self._TARGETS[target_type]],
            "changes": changes,
            "at": event["at"],
        }


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`{field: {"from", "to"}}` for the fields in `old` (the ones a change touched)."""
    return {field: {"from": value, "to": new.get(field)} for field, value in old.items()}
