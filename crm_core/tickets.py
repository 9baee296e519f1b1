"""Service: support tickets with priorities, SLA due times and round-robin assignment.
A conversation has at most one open ticket; later support messages join it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core.assignment import active_user_id, next_assignee, user_filter
from crm_core.audit import Audited, audit_edit
from crm_core.automation.rules import TicketRules
from crm_core.conversations import Conversations
from crm_core.domain_events import EventLog, rule_actor, staff_actor
from crm_core.errors import Invalid
from crm_core.live import LiveEvent, LivePublisher
from crm_core.records import (
    changed_fields,
    check_one_of,
    find_after_duplicate,
    find_by_id,
    find_page,
    one_of,
    save_changes,
    update_found,
    utcnow,
)
from crm_core.vocabularies import (
    INBOX_WORKERS,
    OPEN_TICKET_STATUSES,
    PRIORITIES,
    SLA_TARGETS,
    TICKET_STATUSES,
    Priority,
)

AT_LEAST_HIGH = ("complaint", "cancellation")
BREACH_BATCH = 100


def ticket_priority(intent: str, sentiment: str, urgent: bool) -> str:
    """Complaints and cancellations start high, other support medium; negative sentiment
    raises one level, and negative + urgent is urgent."""
    level = PRIORITIES.index("high" if intent in AT_LEAST_HIGH else "medium")
    if sentiment == "negative" and urgent:
        return "urgent"
    if sentiment == "negative" or urgent:
        level = max(level, PRIORITIES.index("high"))
    return PRIORITIES[level]


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    breached: bool | None = None


class Tickets:
    def __init__(
        self, db: AsyncDatabase, events: LivePublisher, event_log: EventLog, conversations: Conversations
    ) -> None:
        self._db = db
        self._log = event_log
        self._col = db.tickets
        self._events = events
        self._conversations = conversations

    async def open_for(
        self,
        conversation: dict[str, Any],
        message: dict[str, Any],
        *,
        intent: str,
        priority: str,
        rules: TicketRules,
        classification: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The conversation's open ticket with this message added (priority only ever rises),
        or a new one; an unassigned ticket is assigned round-robin (again at each new message,
        so a queue waiting for capacity drains). Safe to repeat for the same message.
        `classification` (confidence, model, low_confidence) says how sure the opener was."""
        existing = await self._col.find_one({"conversation_id": conversation["_id"], "open": True})
        if existing is None:
            existing = await self._create(conversation, message, intent, priority, rules, classification)
        if existing["assignee_id"] is None:
            existing["assignee_id"] = await self._assign(existing, conversation, rules)
        update: dict[str, Any] = {
            "$addToSet": {"message_ids": message["_id"]},
            "$set": {"updated_at": utcnow()},
        }
        if PRIORITIES.index(priority) > PRIORITIES.index(existing["priority"]):
            update["$set"]["priority"] = priority
        ticket = await update_found(self._col, existing["_id"], update, "ticket")
        if "priority" in update["$set"]:
            await self._db.conversations.update_one(
                {"_id": conversation["_id"]}, {"$set": {"priority": priority}}
            )
        self._events.publish(LiveEvent.TICKET_UPDATED, ticket)
        return ticket

    async def _create(
        self,
        conversation: dict[str, Any],
        message: dict[str, Any],
        intent: str,
        priority: str,
        rules: TicketRules,
        classification: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = utcnow()
        sla = rules.sla[Priority(priority)]
        ticket = {
            "_id": ObjectId(),
            "conversation_id": conversation["_id"],
            "contact_id": conversation["contact_id"],
            "channel": conversation["channel"],
            "subject": conversation.get("subject") or message["text"][:120],
            "intent": intent,
            "classification": classification,
            "status": "open",
            "open": True,
            "priority": priority,
            "assignee_id": None,
            "message_ids": [],
            "sla": {
                "first_response_due": now + timedelta(minutes=sla.first_response_minutes),
                "resolution_due": now + timedelta(minutes=sla.resolution_minutes),
            },
            "first_response_at": None,
            "resolved_at": None,
            "created_at": now,
            "updated_at": now,
        }
        opened = self._log.new(
            "ticket.opened",
            at=now,
            actor=rule_actor("tickets.intents"),
            channel=ticket["channel"],
            ticket_id=ticket["_id"],
            conversation_id=ticket["conversation_id"],
            contact_id=ticket["contact_id"],
            priority=priority,
            intent=intent,
        )
        try:
            async with self._log.transaction() as session:
                await self._col.insert_one(ticket, session=session)
                await self._log.record([opened], session)
        except DuplicateKeyError:
            # Another worker opened it first: join theirs.
            return await find_after_duplicate(
                lambda: self._col.find_one({"conversation_id": conversation["_id"], "open": True}), "ticket"
            )
        return ticket

    async def _assign(self, ticket: dict[str, Any], conversation: dict[str, Any], rules: TicketRules) -> Any:
        """The conversation's assignee, else the next agent under capacity; the conversation
        takes the ticket, its priority and the assignee."""
        assignee = conversation.get("assignee_id")
        if assignee is None:
            agent = await next_assignee(
                self._db,
                role="agent",
                queue="tickets",
                owner_field="assignee_id",
                capacity=rules.agent_capacity,
            )
            assignee = agent["_id"] if agent else None
        if assignee is not None:
            await self._col.update_one({"_id": ticket["_id"]}, {"$set": {"assignee_id": assignee}})
        fields: dict[str, Any] = {"ticket_id": ticket["_id"], "priority": ticket["priority"]}
        if assignee is not None:
            fields["assignee_id"] = assignee
        await self._conversations.change(conversation["_id"], {"$set": fields}, rule_actor("tickets.intents"))
        return assignee

    async def responded(self, conversation_id: ObjectId, session: AsyncClientSession) -> None:
        """An agent answered the conversation: the open ticket's first response is met, in the
        reply's own transaction (marked after it, a crash or the SLA watch in between recorded
        a breach for a ticket that was answered)."""
        await self._col.update_one(
            {"conversation_id": conversation_id, "open": True, "first_response_at": None},
            {"$set": {"first_response_at": utcnow()}},
            session=session,
        )

    async def record_sla_marks(self) -> int:
        """Record, once per open ticket and SLA target, `ticket.sla_warning` when its due time is
        less than SLA_WARNING away and `ticket.breached` when it passed unmet, marking the ticket
        (`sla_warned.<target>`, `breached.<target>`) in the same transaction, so several
        processes record each once. A breach is dated at the due time: it counts on the day it
        happened however late it is noticed. Returns how many it recorded."""
        now = utcnow()
        found = [
            (mark, target, ticket)
            for mark in SLA_MARKS
            for target in SLA_TARGETS
            for ticket in await self._col.find(mark.unmarked(target, now)).limit(BREACH_BATCH).to_list(None)
        ]
        if not found:
            return 0
        events = []
        async with self._log.transaction() as session:
            for mark, target, ticket in found:
                marked = await self._col.update_one(
                    {"_id": ticket["_id"], **mark.unmarked(target, now)},
                    {"$set": {f"{mark.field}.{target}": now}},
                    session=session,
                )
                if marked.modified_count:
                    events.append(self._sla_event(mark, ticket, target, now))
            await self._log.record(events, session)
        return len(events)

    def _sla_event(self, mark: SlaMark, ticket: dict[str, Any], target: str, now: datetime) -> dict[str, Any]:
        due = ticket["sla"][f"{target}_due"]
        return self._log.new(
            mark.event,
            at=due if mark.event == "ticket.breached" else now,
            actor=rule_actor("tickets.sla"),
            channel=ticket["channel"],
            ticket_id=ticket["_id"],
            conversation_id=ticket["conversation_id"],
            contact_id=ticket["contact_id"],
            assignee_id=ticket.get("assignee_id"),
            priority=ticket["priority"],
            sla=target,
            **({"due_at": due} if mark.event == "ticket.sla_warning" else {}),
        )

    async def next_due_at(self) -> datetime | None:
        """The earliest moment an SLA mark falls due: a due time not yet met nor recorded as
        breached, or SLA_WARNING before one not yet warned of."""
        moments = [
            ticket["sla"][f"{target}_due"] - mark.ahead
            for mark in SLA_MARKS
            for target in SLA_TARGETS
            if (ticket := await self._col.find_one(mark.unmarked(target), sort=[(f"sla.{target}_due", 1)]))
        ]
        return min(moments, default=None)

    async def due_times(self, ticket_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        """Each ticket's SLA due times and whether they were met, for lists that show them."""
        fields = {"status": 1, "sla": 1, "first_response_at": 1, "resolved_at": 1}
        found = await self._col.find({"_id": {"$in": list(set(ticket_ids))}}, fields).to_list(None)
        return {ticket["_id"]: ticket for ticket in found}

    async def get(self, ticket_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, ticket_id, "ticket")

    async def list(
        self, where: TicketFilter, *, viewer_id: ObjectId, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        """Newest first; `breached` means an open ticket past a due time it has not met."""
        clauses: list[dict[str, Any]] = []
        if where.status:
            clauses.append(one_of("status", where.status, TICKET_STATUSES))
        if where.priority:
            clauses.append(one_of("priority", where.priority, PRIORITIES))
        if where.assignee:
            clauses.append({"assignee_id": user_filter(where.assignee, viewer_id)})
        if where.breached is not None:
            now = utcnow()
            late = {"$or": [_late(target, now) for target in SLA_TARGETS]}
            clauses.append(late if where.breached else {"$nor": [late]})
        return await find_page(self._col, clauses, limit=limit, cursor=cursor)

    async def update(
        self,
        ticket_id: str | ObjectId,
        changes: dict[str, Any],
        actor: dict[str, Any],
        audited: Audited | None = None,
    ) -> tuple[dict, dict]:
        """Change status, priority or assignee; returns (new record, old values). The ticket is
        read in the transaction that changes it, so the old values, the event and the audit
        entry are what this write changed, whatever a colleague did a moment before."""
        fields = dict(changes)
        check_one_of(fields, "status", TICKET_STATUSES)
        check_one_of(fields, "priority", PRIORITIES)
        if fields.get("assignee_id") is not None:
            fields["assignee_id"] = await active_user_id(self._db, fields["assignee_id"], INBOX_WORKERS)
        async with self._log.transaction() as session:
            current = await find_by_id(self._col, ticket_id, "ticket", session)
            changed = changed_fields(current, fields)
            if not changed:
                return current, {}
            extra: dict[str, Any] = {}
            if "status" in changed:
                extra["open"] = changed["status"] in OPEN_TICKET_STATUSES
                if changed["status"] in ("resolved", "closed") and current.get("resolved_at") is None:
                    extra["resolved_at"] = utcnow()
            if extra.get("open") and not current["open"]:
                clash = await self._col.find_one(
                    {"conversation_id": current["conversation_id"], "open": True}, session=session
                )
                if clash is not None:
                    raise Invalid(f"the conversation already has an open ticket ({clash['_id']})")
            ticket, old = await save_changes(self._col, current, changed, session, **extra)
            await audit_edit(self._db, audited, ticket, old, session)
            if "status" in changed:
                event = self._log.new(
                    "ticket.status_changed",
                    actor=staff_actor(actor),
                    channel=ticket["channel"],
                    ticket_id=ticket["_id"],
                    conversation_id=ticket["conversation_id"],
                    status={"from": current["status"], "to": ticket["status"]},
                )
                await self._log.record([event], session)
        self._events.publish(LiveEvent.TICKET_UPDATED, ticket)
        return ticket, old


def _late(target: str, before: datetime | None = None) -> dict[str, Any]:
    """Open tickets whose `target` (first response or resolution) is unmet and was due before
    `before` (whenever it is due, without one)."""
    due = {"$lt": before} if before is not None else {"$ne": None}
    unmet = {"first_response_at": None} if target == "first_response" else {}
    return {"open": True, f"sla.{target}_due": due, **unmet}


def _unbreached(target: str, before: datetime | None = None) -> dict[str, Any]:
    """Late (see `_late`) and not yet recorded as breached."""
    return _late(target, before) | {"breached." + target: None}


def _unwarned(target: str, now: datetime | None = None) -> dict[str, Any]:
    """Open, unmet, not yet warned of nor breached, and due within SLA_WARNING from `now`
    (whenever it is due, without one)."""
    soon = _late(target)
    if now is not None:
        soon[f"sla.{target}_due"] = {"$gte": now, "$lt": now + SLA_WARNING}
    return soon | {"sla_warned." + target: None, "breached." + target: None}


@dataclass(frozen=True)
class SlaMark:
    """A moment in an SLA target's life the hub records once: the event, the ticket's field
    marking it recorded, its filter, and how long before the due time it comes."""

    event: str
    field: str
    unmarked: Callable[..., dict[str, Any]]
    ahead: timedelta


SLA_WARNING = timedelta(minutes=15)  # "about to breach": this long before a due time
SLA_MARKS = (
    SlaMark("ticket.sla_warning", "sla_warned", _unwarned, SLA_WARNING),
    SlaMark("ticket.breached", "breached", _unbreached, timedelta(0)),
)
