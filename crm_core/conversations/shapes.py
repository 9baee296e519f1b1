"""What conversations and messages look like: the records, their builders, and the inbox's
filter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from crm_core.records import (
    utcnow,
)
from crm_core.search import search_terms


@dataclass(frozen=True)
class Stored:
    message_id: ObjectId
    conversation_id: ObjectId
    contact_id: ObjectId
    duplicate: bool


@dataclass(frozen=True)
class InboundWrite:
    """An inbound message for its conversation; replies go to `route` from then on."""

    conversation_id: ObjectId
    message: dict[str, Any]
    route: dict[str, Any]


@dataclass(frozen=True)
class NewThread:
    """A thread's first message: its conversation is made with these if it does not exist yet
    (with `status`: a thread we start ourselves need not wait in the inbox)."""

    channel: str
    thread_key: str
    contact_id: ObjectId
    route: dict[str, Any]
    subject: str | None
    at: datetime
    subject_key: str | None = None
    status: str = "open"


class _ContactMoved(Exception):
    """A conversation's contact changed (a merge) after the message was addressed to it."""


# A conversation is shown (inbox, counts, reports) once it holds a message: a first ingest
# that failed after creating it leaves nothing half-made in sight, and its retry fills it.
STARTED = {"message_count": {"$gt": 0}}


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    channel: str | None = None
    assignee: str | None = None  # a user id, "me" or "none"
    intent: str | None = None
    label: str | None = None
    priority: str | None = None
    contact_id: str | None = None
    q: str | None = None


def staff_sender(user: dict[str, Any]) -> dict[str, Any]:
    return {"type": "agent", "id": user["_id"], "name": user.get("name") or user["email"]}


def _new_conversation(thread: NewThread) -> dict[str, Any]:
    """`waiting_since` and `first_response_at` stay absent until set: `$min` fills an absent
    field but would keep a null one."""
    return {
        "channel": thread.channel,
        "thread_key": thread.thread_key,
        "contact_id": thread.contact_id,
        "route": thread.route,
        "subject": thread.subject,
        "subject_key": thread.subject_key,
        "status": thread.status,
        "snoozed_until": None,
        "assignee_id": None,
        "team": None,
        "priority": None,
        "labels": [],
        "last_intent": None,
        "ticket_id": None,
        "lead_id": None,
        "message_count": 0,
        "last_message_at": thread.at,
        "created_at": utcnow(),
    }


def inbound_message(
    *,
    conversation_id: ObjectId,
    contact_id: ObjectId,
    channel: str,
    external_id: str,
    sender: dict[str, Any],
    text: str,
    attachments: list[dict[str, Any]],
    sent_at: datetime,
    subject: str | None = None,
    flags: dict[str, str] | None = None,
    **details: Any,
) -> dict[str, Any]:
    """An inbound message record. `flags["auto"]` marks machine-sent mail (auto-replies,
    bounces, bulk): stored and shown, never classified or acted on. `details` holds what only
    some channels have (html, original_text, email{})."""
    flags = flags or {}
    return {
        "_id": ObjectId(),
        "conversation_id": conversation_id,
        "contact_id": contact_id,
        "channel": channel,
        "external_id": external_id,
        "direction": "in",
        "kind": "message",
        "sender": {"type": "contact", "id": contact_id, **sender},
        "text": text,
        "attachments": attachments,
        "subject": subject,
        "flags": flags,
        **{key: value for key, value in details.items() if value is not None},
        "terms": search_terms(subject, text, *(a.get("name") for a in attachments)),
        "nlp": {"status": "skipped" if "auto" in flags else "pending"},
        "sent_at": sent_at,
        "created_at": utcnow(),
    }


def _message(
    conversation: dict[str, Any],
    *,
    kind: str,
    direction: str,
    sender: dict[str, Any],
    text: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "conversation_id": conversation["_id"],
        "contact_id": conversation["contact_id"],
        "channel": conversation["channel"],
        "external_id": None,
        "direction": direction,
        "kind": kind,
        "sender": sender,
        "text": text,
        "attachments": [],
        "terms": search_terms(text) if kind != "activity" else [],
        "created_at": at or utcnow(),
    }


def _counted(writes: Sequence[InboundWrite]) -> list[dict[str, Any]]:
    """One update counting the inbound messages in the conversations they join: one statement
    for the batch (the embedded server pays its per-statement work, reading the index catalogue
    among it, once, not once per message). Each conversation finds its own figures by its id in
    the lists the update carries. It is one stage, since the embedded server copies the whole
    document for each stage. Machine-sent mail does not reopen the conversation or make it wait
    for an agent."""
    figures: dict[ObjectId, dict[str, Any]] = {}
    for write in writes:
        message, at = write.message, write.message["created_at"]
        counted = figures.setdefault(write.conversation_id, {"count": 0, "at": at, "reopens": False})
        counted.update(count=counted["count"] + 1, at=max(counted["at"], at), route=write.route,
                       last_message=_preview(message))  # fmt: skip
        if "auto" not in message["flags"]:
            counted.update(reopens=True, waiting_since=min(counted.get("waiting_since", at), at))
    ids = list(figures)
    mine = {"$arrayElemAt": [{"$literal": list(figures.values())}, {"$indexOfArray": [ids, "$_id"]}]}
    reopens = "$$mine.reopens"
    counts = {
        "route": "$$mine.route",
        "last_message": "$$mine.last_message",
        "updated_at": "$$mine.at",
        "last_message_at": {"$max": ["$last_message_at", "$$mine.at"]},
        "message_count": {"$add": ["$message_count", "$$mine.count"]},
        "status": {"$cond": [reopens, "open", "$status"]},
        "snoozed_until": {"$cond": [reopens, None, "$snoozed_until"]},
        "waiting_since": {
            "$cond": [reopens, {"$min": ["$waiting_since", "$$mine.waiting_since"]}, "$waiting_since"]
        },
    }
    counted = {"$mergeObjects": ["$$ROOT", counts]}
    return [{"$replaceWith": {"$let": {"vars": {"mine": mine}, "in": counted}}}]


def _staff_update(changed: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The update for a staff member's changes: resolving stamps the time, and any other status
    than snoozed ends a snooze."""
    update: dict[str, Any] = {"$set": {**changed, "updated_at": now}}
    if changed.get("status") == "resolved":
        update["$set"]["resolved_at"] = now
    if "status" in changed and changed["status"] != "snoozed" and "snoozed_until" not in changed:
        update["$set"]["snoozed_until"] = None
    return update


def _key(write: InboundWrite) -> tuple[str, str]:
    return write.message["channel"], write.message["external_id"]


def _fresh(write: InboundWrite) -> Stored:
    message = write.message
    return Stored(message["_id"], write.conversation_id, message["contact_id"], False)


def _preview(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message["_id"],
        "direction": message["direction"],
        "text": message["text"][:200],
        "at": message["created_at"],
    }


def _describe_changes(changed: dict[str, Any], actor: dict[str, Any], assignee_name: str | None) -> list[str]:
    who = actor.get("name") or actor["email"]
    lines = []
    for field, value in changed.items():
        if field == "snoozed_until":
            continue
        if field == "assignee_id":
            lines.append(
                f"{who} unassigned the conversation"
                if value is None
                else f"{who} assigned it to {assignee_name}"
            )
        elif field == "labels":
            lines.append(f"{who} set labels: {', '.join(value) or 'none'}")
        else:
            lines.append(f"{who} set {field} to {value if value is not None else 'none'}")
    return lines
