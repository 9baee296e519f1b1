"""What conversations and messages look like: the records, their builders, and the inbox's
filter."""

from __future__ import annotations

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


def message_preview(message: dict[str, Any]) -> dict[str, Any]:
    """The conversation's last message as its inbox row shows it: who wrote it and how it starts."""
    return {
        "id": message["_id"],
        "direction": message["direction"],
        "author": (message.get("sender") or {}).get("name"),
        "text": message["text"][:200],
        "files": len(message.get("attachments", [])),
        "at": message["created_at"],
    }
