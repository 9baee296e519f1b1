"""Sales: leads scored from what customers tell us, handed to reps, and converted into deals
in a pipeline. A contact has at most one open lead; later sales messages add to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core import money
from crm_core.assignment import active_user_id, next_assignee, user_filter
from crm_core.audit import Audited, audit_edit
from crm_core.automation.rules import LeadRules
from crm_core.domain_events import EventLog, rule_actor, staff_actor
from crm_core.errors import Conflict
from crm_core.live import LiveEvent, LivePublisher
from crm_core.records import (
    changed_fields,
    check_one_of,
    find_after_duplicate,
    find_by_id,
    find_page,
    modify_one,
    one_of,
    save_changes,
    transaction,
    utcnow,
)
from crm_core.vocabularies import DEAL_STAGES, LEAD_STATUSES, SALES_TEAM, LeadStatus

# A lead becomes converted only by convert(), which makes its deal.
SETTABLE_LEAD_STATUSES = tuple(status for status in LeadStatus if status != LeadStatus.CONVERTED)
BIG_BUDGET = 10_000  # below this a budget earns half its points
BIG_TEAM = 10  # below this a team size earns half its points
_SIGNAL_ENTITIES = {
    "budget": ("money",),
    "team_size": ("team_size",),
    "company": ("company", "company_domain"),
    "timeline": ("timeline",),
    "request": ("request",),
    "title": ("title",),
}


def lead_signals(entities: list[dict[str, Any]], points: dict[str, int]) -> list[dict[str, Any]]:
    """The scoring signals a message shows, each with its points and the words that earned them."""
    signals = []
    for signal, kinds in _SIGNAL_ENTITIES.items():
        found = [e for e in entities if e["type"] in kinds]
        if not found or not points.get(signal):
            continue
        full = points[signal]
        if signal == "budget":
            best = max(found, key=lambda e: e["value"]["amount"])
            earned = full if best["value"]["amount"] >= BIG_BUDGET else full // 2
        elif signal == "team_size":
            best = max(found, key=lambda e: e["value"])
            earned = full if best["value"] >= BIG_TEAM else full // 2
        else:
            best, earned = found[0], full
        signals.append({"signal": signal, "points": earned, "evidence": best["text"], "value": best["value"]})
    return signals


def _merged(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per signal, the strongest evidence seen in any message."""
    best: dict[str, dict[str, Any]] = {s["signal"]: s for s in old}
    for signal in new:
        if signal["signal"] not in best or signal["points"] >= best[signal["signal"]]["points"]:
            best[signal["signal"]] = signal
    return sorted(best.values(), key=lambda s: -s["points"])


@dataclass(frozen=True)
class LeadFilter:
    status: str | None = None
    owner: str | None = None
    min_score: int | None = None


class Leads:
    def __init__(self, db: AsyncDatabase, events: LivePublisher, event_log: EventLog) -> None:
        self._db = db
        self._col = db.leads
        self._events = events
        self._log = event_log

    async def record(
        self,
        contact_id: ObjectId,
        conversation_id: ObjectId,
        message_id: ObjectId,
        signals: list[dict],
        rules: LeadRules,
    ) -> dict[str, Any]:
        """Add a sales message's signals to the contact's open lead (made if there is none),
        rescore it, and when it first qualifies assign it round-robin to a sales rep.
        Safe to repeat for the same message."""
        current = await self._col.find_one({"contact_id": contact_id, "open": True})
        if current is None:
            current = await self._create(contact_id)
        merged = _merged(current["signals"], signals)
        score = min(100, sum(s["points"] for s in merged))
        qualified = current["status"] == "qualified" or score >= rules.qualified_score
        now = utcnow()
        fields: dict[str, Any] = {"signals": merged, "score": score, "updated_at": now}
        qualifies = qualified and current["status"] == "new"
        if qualifies:
            fields |= {"status": "qualified", "qualified_at": now}
        async with self._log.transaction() as session:
            lead = await modify_one(
                self._col,
                # The status it was read with: of two workers, one qualifies it (and says so).
                {"_id": current["_id"], "status": current["status"]},
                {
                    "$set": fields,
                    "$addToSet": {"source_conversation_ids": conversation_id, "message_ids": message_id},
                },
                session=session,
            )
            if lead is not None and qualifies:
                event = self._log.new(
                    "lead.qualified",
                    at=now,
                    actor=rule_actor("leads.qualified_score"),
                    lead_id=lead["_id"],
                    contact_id=contact_id,
                    score=score,
                )
                await self._log.record([event], session)
        if lead is None:  # changed meanwhile: start again from what it is now
            return await self.record(contact_id, conversation_id, message_id, signals, rules)
        if qualified and lead["owner_id"] is None:
            lead = await self._assign(lead)
        await self._db.contacts.update_one(
            {"_id": contact_id},
            {
                "$set": {
                    "lead": {"id": lead["_id"], "score": score, "status": lead["status"], "signals": merged}
                }
            },
        )
        self._events.publish(LiveEvent.LEAD_UPDATED, lead)
        return lead

    async def _create(self, contact_id: ObjectId) -> dict[str, Any]:
        now = utcnow()
        lead = {
            "_id": ObjectId(),
            "contact_id": contact_id,
            "status": "new",
            "open": True,
            "score": 0,
            "signals": [],
            "owner_id": None,
            "source_conversation_ids": [],
            "message_ids": [],
            "deal_id": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self._log.transaction() as session:
                await self._col.insert_one(lead, session=session)
                created = self._log.new("lead.created", at=now, lead_id=lead["_id"], contact_id=contact_id)
                await self._log.record([created], session)
        except DuplicateKeyError:
            return await find_after_duplicate(
                lambda: self._col.find_one({"contact_id": contact_id, "open": True}), "lead"
            )
        return lead

    async def _assign(self, lead: dict[str, Any]) -> dict[str, Any]:
        rep = await next_assignee(self._db, role="sales", queue="leads", owner_field="owner_id")
        if rep is None:
            return lead
        async with self._log.transaction() as session:
            assigned = await modify_one(
                self._col,
                {"_id": lead["_id"], "owner_id": None},
                {"$set": {"owner_id": rep["_id"], "assigned_at": utcnow()}},
                session=session,
            )
            if assigned is not None:
                event = self._log.new(
                    "lead.assigned",
                    actor=rule_actor("leads.qualified_score"),
                    lead_id=lead["_id"],
                    contact_id=lead["contact_id"],
                    owner_id=rep["_id"],
                )
                await self._log.record([event], session)
        return assigned or await self.get(lead["_id"])

    async def get(self, lead_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, lead_id, "lead")

    async def list(
        self, where: LeadFilter, *, viewer_id: ObjectId, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        clauses: list[dict[str, Any]] = []
        if where.status:
            clauses.append(one_of("status", where.status, LEAD_STATUSES))
        if where.owner:
            clauses.append({"owner_id": user_filter(where.owner, viewer_id)})
        if where.min_score is not None:
            clauses.append({"score": {"$gte": where.min_score}})
        return await find_page(self._col, clauses, limit=limit, cursor=cursor)

    async def update(
        self, lead_id: str | ObjectId, changes: dict[str, Any], audited: Audited | None = None
    ) -> tuple[dict, dict]:
        """Change status (not to converted: use convert) or owner; returns (new, old values).
        Read in the transaction that changes it, as a ticket is."""
        fields = dict(changes)
        check_one_of(fields, "status", SETTABLE_LEAD_STATUSES)
        if fields.get("owner_id") is not None:
            fields["owner_id"] = await active_user_id(self._db, fields["owner_id"], SALES_TEAM)
        async with self._log.transaction() as session:
            current = await find_by_id(self._col, lead_id, "lead", session)
            if current["status"] == "converted":
                raise Conflict("the lead was converted; work its deal instead")
            changed = changed_fields(current, fields)
            if not changed:
                return current, {}
            extra = {"open": changed["status"] != "lost"} if "status" in changed else {}
            lead, old = await save_changes(self._col, current, changed, session, **extra)
            await audit_edit(self._db, audited, lead, old, session)
        self._events.publish(LiveEvent.LEAD_UPDATED, lead)
        return lead, old

    async def convert(
        self, lead_id: str | ObjectId, actor: dict[str, Any], audited: Audited | None = None
    ) -> dict[str, Any]:
        """A deal in the default pipeline from this lead, once: the lead is marked converted in
        the same transaction, so a second convert is a conflict, not a second deal."""
        lead = await self.get(lead_id)
        if lead["status"] in ("converted", "lost"):
            raise Conflict(f"the lead is {lead['status']}")
        contact = await self._db.contacts.find_one({"_id": lead["contact_id"]}, {"name": 1, "company": 1})
        budget = next((s["value"] for s in lead["signals"] if s["signal"] == "budget"), None)
        value = money.held(budget["amount"]) if budget else None
        company = next((s["value"] for s in lead["signals"] if s["signal"] == "company"), None)
        now = utcnow()
        deal = {
            "_id": ObjectId(),
            "pipeline": "default",
            "title": (contact or {}).get("company") or company or (contact or {}).get("name") or "New deal",
            "stage": "new",
            "open": True,
            "value": value,
            "currency": budget["currency"] if budget and value is not None else None,
            "owner_id": lead["owner_id"] or actor["_id"],
            "contact_id": lead["contact_id"],
            "lead_id": lead["_id"],
            "source_conversation_ids": lead["source_conversation_ids"],
            "created_at": now,
            "updated_at": now,
        }
        async with transaction(self._db) as session:
            converted = await self._col.update_one(
                {"_id": lead["_id"], "status": {"$nin": ["converted", "lost"]}},
                {"$set": {"status": "converted", "open": False, "deal_id": deal["_id"], "updated_at": now}},
                session=session,
            )
            if converted.modified_count == 0:
                raise Conflict("the lead was converted meanwhile")
            await self._db.deals.insert_one(deal, session=session)
            if audited is not None:
                await audited.record(self._db, lead["_id"], {"deal_id": deal["_id"]}, session)
        self._events.publish(LiveEvent.DEAL_CREATED, deal)
        return deal


@dataclass(frozen=True)
class DealFilter:
    stage: str | None = None
    owner: str | None = None


class Deals:
    def __init__(self, db: AsyncDatabase, events: LivePublisher, event_log: EventLog) -> None:
        self._db = db
        self._col = db.deals
        self._events = events
        self._log = event_log

    async def get(self, deal_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, deal_id, "deal")

    async def list(
        self, where: DealFilter, *, viewer_id: ObjectId, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        clauses: list[dict[str, Any]] = []
        if where.stage:
            clauses.append(one_of("stage", where.stage, DEAL_STAGES))
        if where.owner:
            clauses.append({"owner_id": user_filter(where.owner, viewer_id)})
        return await find_page(self._col, clauses, limit=limit, cursor=cursor)

    async def update(
        self,
        deal_id: str | ObjectId,
        changes: dict[str, Any],
        actor: dict[str, Any],
        audited: Audited | None = None,
    ) -> tuple[dict, dict]:
        """Move a deal along the pipeline, set its value or owner; returns (new, old values).
        Read in the transaction that changes it, as a ticket is."""
        fields = dict(changes)
        check_one_of(fields, "stage", DEAL_STAGES)
        if fields.get("value") is not None:
            fields["value"] = money.amount(fields["value"])
        if fields.get("currency") is not None:
            fields["currency"] = money.currency(fields["currency"])
        if fields.get("owner_id") is not None:
            fields["owner_id"] = await active_user_id(self._db, fields["owner_id"], SALES_TEAM)
        async with self._log.transaction() as session:
            current = await find_by_id(self._col, deal_id, "deal", session)
            changed = changed_fields(current, fields)
            if not changed:
                return current, {}
            extra: dict[str, Any] = {}
            if "stage" in changed:
                extra["open"] = changed["stage"] not in ("won", "lost")
                extra["closed_at"] = None if extra["open"] else utcnow()
            deal, old = await save_changes(self._col, current, changed, session, **extra)
            await audit_edit(self._db, audited, deal, old, session)
            if "stage" in changed:
                event = self._log.new(
                    "deal.stage_changed",
                    actor=staff_actor(actor),
                    deal_id=deal["_id"],
                    contact_id=deal["contact_id"],
                    stage={"from": current["stage"], "to": deal["stage"]},
                    value=deal.get("value"),
                    currency=deal.get("currency"),
                )
                await self._log.record([event], session)
        self._events.publish(LiveEvent.DEAL_UPDATED, deal)
        return deal, old
