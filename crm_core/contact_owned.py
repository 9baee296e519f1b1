"""What a contact owns: every kind of record that belongs to one customer (`contact_id`),
listed once. The contact's relationship view, `has_history`, merge (and the export and
erasure the integration work adds) read this list, so a new kind (orders, surveys, points) is
one entry here, not a change in each of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.customer_value import restate
from crm_core.records import utcnow

# (db, the merged contact, the surviving one, the merge's session) -> how many records moved
Merge = Callable[[AsyncDatabase, ObjectId, ObjectId, AsyncClientSession], Awaitable[int]]
# (the contact, the message asked about) -> the filter of records showing earlier dealings
History = Callable[[ObjectId, dict[str, Any]], dict[str, Any]]


class Erasure(StrEnum):
    """What erasing a customer does to a kind of record they own."""

    DELETE = "delete"  # about the customer only: gone with them
    ANONYMISE = "anonymise"  # the business's own record (a deal, a ticket): kept, the person's data removed


@dataclass(frozen=True)
class Owned:
    collection: str
    shown_sort: list[tuple[str, int]] | None  # its order in the relationship view; None: not shown
    history: History | None  # what of it means the customer dealt with us before; None: nothing
    merge: Merge  # how a merge moves it to the surviving contact
    erasure: Erasure  # what erasing the customer does to it (exported always)
    anonymised: dict[str, Any] = field(default_factory=dict)  # ANONYMISE: the fields it sets


NEWEST = [("created_at", -1), ("_id", -1)]
ERASED = "(erased)"  # what stands where an erased customer's words were


def moved(collection: str) -> Merge:
    """Every record of `collection` moves to the surviving contact."""

    async def merge(
        db: AsyncDatabase, source: ObjectId, target: ObjectId, session: AsyncClientSession
    ) -> int:
        result = await db[collection].update_many(
            {"contact_id": source}, {"$set": {"contact_id": target}}, session=session
        )
        return result.modified_count

    return merge


async def _merge_leads(
    db: AsyncDatabase, source: ObjectId, target: ObjectId, session: AsyncClientSession
) -> int:
    """A contact has one open lead: the merged contact's is closed into the survivor's (its
    conversations added), then every lead moves."""
    kept = await db.leads.find_one({"contact_id": target, "open": True}, session=session)
    theirs = await db.leads.find_one({"contact_id": source, "open": True}, session=session)
    if kept and theirs:
        await db.leads.update_one(
            {"_id": theirs["_id"]},
            {"$set": {"open": False, "merged_into": kept["_id"], "updated_at": utcnow()}},
            session=session,
        )
        sources = theirs.get("source_conversation_ids", [])
        await db.leads.update_one(
            {"_id": kept["_id"]},
            {"$addToSet": {"source_conversation_ids": {"$each": sources}}},
            session=session,
        )
    return await moved("leads")(db, source, target, session)


async def _merge_enrolments(
    db: AsyncDatabase, source: ObjectId, target: ObjectId, session: AsyncClientSession
) -> int:
    """One enrolment per campaign: the merged contact's in a campaign the survivor is in is
    stopped (and stays theirs); the others move."""
    enrolled = await db.enrolments.find({"contact_id": target}, {"campaign_id": 1}, session=session).to_list(
        None
    )
    campaigns = [e["campaign_id"] for e in enrolled]
    await db.enrolments.update_many(
        {"contact_id": source, "campaign_id": {"$in": campaigns}},
        {"$set": {"status": "stopped", "merged_into": target}},
        session=session,
    )
    result = await db.enrolments.update_many(
        {"contact_id": source, "campaign_id": {"$nin": campaigns}},
        {"$set": {"contact_id": target}},
        session=session,
    )
    return result.modified_count


async def _merge_purchases(
    db: AsyncDatabase, source: ObjectId, target: ObjectId, session: AsyncClientSession
) -> int:
    """Orders move (points moved before them); the survivor's purchases and balance are summed
    again."""
    moved_orders = await moved("orders")(db, source, target, session)
    await restate(db, target, session)
    return moved_orders


def _earlier_real_message(contact_id: ObjectId, before: dict[str, Any]) -> dict[str, Any]:
    """An earlier classified inbound message that was not spam."""
    return {
        "contact_id": contact_id,
        "direction": "in",
        "_id": {"$ne": before["_id"]},
        "created_at": {"$lte": before["created_at"]},
        "nlp.status": {"$in": ["classified", "done"]},
        "nlp.intent": {"$ne": "spam"},
    }


def _any(contact_id: ObjectId, before: dict[str, Any]) -> dict[str, Any]:
    return {"contact_id": contact_id}


CONTACT_OWNS: tuple[Owned, ...] = (
    Owned("conversations", [("last_message_at", -1)], None, moved("conversations"), Erasure.DELETE),
    Owned("messages", None, _earlier_real_message, moved("messages"), Erasure.DELETE),
    Owned("tickets", NEWEST, _any, moved("tickets"), Erasure.ANONYMISE, {"subject": ERASED}),
    Owned(
        "leads", NEWEST, _any, _merge_leads, Erasure.ANONYMISE, {"signals": []}
    ),  # their evidence quotes them
    Owned("deals", NEWEST, _any, moved("deals"), Erasure.ANONYMISE, {"title": ERASED}),
    Owned("enrolments", NEWEST, None, _merge_enrolments, Erasure.DELETE),
    Owned("uploads", None, None, moved("uploads"), Erasure.DELETE),  # files agents sent them
    Owned("points", [("at", -1)], None, moved("points"), Erasure.DELETE),  # before orders: see below
    # The business's books keep an erased customer's orders, without the items' words.
    Owned("orders", [("placed_at", -1)], _any, _merge_purchases, Erasure.ANONYMISE, {"items": []}),
    Owned("coupons", NEWEST, None, moved("coupons"), Erasure.DELETE),
)
