"""Segments: saved, named, dynamic filters over contacts, for campaigns, exports and reports.

A filter is a group, `{"all": [...]}` (AND) or `{"any": [...]}` (OR), of conditions
`{"field", "op", "value"}` and nested groups. The fields a segment may filter on are listed
once (`FIELDS`): the contact's own (name, company, addresses, labels, consent, custom
attributes), its value (tier, RFM scores, orders, membership) and its dealings kept elsewhere
(a product bought, a channel used, an intent seen, the last contact), those read first as the
contacts they name. A filter is compiled to one query on `contacts`, so a count is one
`count_documents`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.errors import Invalid, NotFound
from crm_core.records import find_by_id, object_id, transaction, utcnow
from crm_core.vocabularies import PURCHASED

MAX_DEPTH = 3
MAX_CONDITIONS = 50
OPS = {
    "text": ("is", "is_not", "contains", "is_set", "is_not_set"),
    "number": ("eq", "gt", "gte", "lt", "lte"),
    "days": ("within_days", "older_than_days"),  # a time, as days before now
    "choice": ("is", "is_not", "in"),
    "bool": ("is",),
    "lookup": ("is",),  # contacts named by another collection
}
COMPARE = {"eq": "$eq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}

# (db, value) -> the ids of the contacts a lookup condition names
Lookup = Callable[[AsyncDatabase, Any], Awaitable[list[ObjectId]]]


@dataclass(frozen=True)
class Field:
    path: str  # where it is on the contact (a lookup's: unused)
    kind: str  # one of OPS
    lookup: Lookup | None = None


async def _bought(db: AsyncDatabase, value: Any) -> list[ObjectId]:
    """Who bought the product with this SKU (exactly: served from the orders' SKU index)."""
    return await db.orders.distinct(
        "contact_id", {"items.sku": str(value), "status": {"$in": list(PURCHASED)}}
    )


async def _channel(db: AsyncDatabase, value: Any) -> list[ObjectId]:
    return await db.conversations.distinct("contact_id", {"channel": str(value)})


async def _intent(db: AsyncDatabase, value: Any) -> list[ObjectId]:
    return await db.conversations.distinct("contact_id", {"intent": str(value)})


FIELDS: dict[str, Field] = {
    "name": Field("name", "text"),
    "company": Field("company", "text"),
    "email": Field("emails", "text"),
    "phone": Field("phones", "text"),
    "labels": Field("labels", "text"),
    "marketing_consent": Field("consent.marketing", "bool"),
    "tier": Field("tier", "choice"),
    "rfm.recency": Field("rfm.recency", "number"),
    "rfm.frequency": Field("rfm.frequency", "number"),
    "rfm.monetary": Field("rfm.monetary", "number"),
    "orders.count": Field("purchases.count", "number"),
    "orders.total": Field("purchases.total", "number"),
    "orders.last": Field("purchases.last_at", "days"),
    "membership.level": Field("membership.level", "choice"),
    "membership.points": Field("membership.points", "number"),
    "created": Field("created_at", "days"),
    "updated": Field("updated_at", "days"),
    "bought": Field("", "lookup", _bought),
    "channel": Field("", "lookup", _channel),
    "intent": Field("", "lookup", _intent),
}
ATTRIBUTE = "attributes."  # "attributes.<key>": a custom attribute, as text


def field_of(name: Any) -> Field:
    if isinstance(name, str) and name.startswith(ATTRIBUTE) and 0 < len(name) - len(ATTRIBUTE) <= 100:
        return Field(name, "text")
    if not isinstance(name, str) or name not in FIELDS:
        raise Invalid(f"filter: no field {str(name)[:60]!r}; fields: {', '.join(FIELDS)}, attributes.<key>")
    return FIELDS[name]


async def compile_filter(db: AsyncDatabase, group: Any, depth: int = 1) -> dict[str, Any]:
    """A filter as a query on contacts (live ones only at the top); Invalid for any field, op
    or value that is not one, a group nested past MAX_DEPTH or holding no condition."""
    if not isinstance(group, dict) or len(group) != 1 or next(iter(group)) not in ("all", "any"):
        raise Invalid('filter: a group, {"all": [...]} or {"any": [...]}')
    if depth > MAX_DEPTH:
        raise Invalid(f"filter: groups nested at most {MAX_DEPTH} deep")
    how, items = next(iter(group.items()))
    if not isinstance(items, list) or not 0 < len(items) <= MAX_CONDITIONS:
        raise Invalid(f"filter: a group holds 1 to {MAX_CONDITIONS} conditions")
    clauses = []
    for item in items:
        if not isinstance(item, dict):
            raise Invalid(f"filter: {str(item)[:60]!r} is neither a condition nor a group")
        clauses.append(
            await _condition(db, item) if "field" in item else await compile_filter(db, item, depth + 1)
        )
    query = {"$and" if how == "all" else "$or": clauses}
    return {"$and": [{"merged_into": None}, query]} if depth == 1 else query


async def _condition(db: AsyncDatabase, condition: dict[str, Any]) -> dict[str, Any]:
    if set(condition) - {"field", "op", "value"}:
        raise Invalid("filter: a condition has field, op and value only")
    field, op, value = field_of(condition["field"]), condition.get("op"), condition.get("value")
    if not isinstance(op, str) or op not in OPS[field.kind]:
        raise Invalid(f"filter: {condition['field']} takes the ops {', '.join(OPS[field.kind])}")
    if field.lookup is not None:
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"filter: {condition['field']} needs a value")
        return {"_id": {"$in": await field.lookup(db, value.strip())}}
    return _clause(field, op, value, condition["field"])


def _clause(field: Field, op: str, value: Any, name: str) -> dict[str, Any]:
    path = field.path
    if op == "is_set":
        return {path: {"$exists": True, "$nin": [None, "", []]}}
    if op == "is_not_set":
        return {"$or": [{path: {"$exists": False}}, {path: {"$in": [None, "", []]}}]}
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"filter: {name} is true or false")
        return {path: value}
    if field.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 1e12:
            raise Invalid(f"filter: {name} compares with a number")
        return {path: {COMPARE[op]: value}}
    if field.kind == "days":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 36500:
            raise Invalid(f"filter: {name} takes a number of days, 0 to 36500")
        moment = utcnow() - timedelta(days=value)
        return {path: {"$gte": moment}} if op == "within_days" else {path: {"$lt": moment}}
    if op == "in":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise Invalid(f"filter: {name} in takes a list of names")
        return {path: {"$in": value[:100]}}
    if not isinstance(value, str) or len(value) > 200:
        raise Invalid(f"filter: {name} compares with text (at most 200 characters)")
    if op == "contains":
        return {path: re.compile(re.escape(value), re.IGNORECASE)}
    return {path: value} if op == "is" else {path: {"$ne": value}}


class Segments:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._col = db.segments

    async def preview(self, group: Any, limit: int = 10) -> dict[str, Any]:
        """How many contacts the filter holds now, and the first of them."""
        query = await compile_filter(self._db, group)
        count = await self._db.contacts.count_documents(query)
        fields = {"name": 1, "emails": 1, "phones": 1, "company": 1, "tier": 1}
        found = self._db.contacts.find(query, fields).sort("updated_at", -1)
        sample = await found.to_list(limit) if limit else []
        return {"count": count, "sample": sample}

    async def members(self, segment_id: str, limit: int) -> list[dict[str, Any]]:
        segment = await self.get(segment_id)
        query = await compile_filter(self._db, segment["filter"])
        return await self._db.contacts.find(query).sort("updated_at", -1).to_list(limit)

    async def create(
        self, name: str, description: str | None, group: Any, audited: Audited
    ) -> dict[str, Any]:
        await compile_filter(self._db, group)
        now = utcnow()
        segment = {"_id": ObjectId(), "name": name, "description": description, "filter": group,
                   "created_at": now, "updated_at": now, "created_by": audited.actor.get("_id")}  # fmt: skip
        async with transaction(self._db) as session:
            await self._col.insert_one(segment, session=session)
            await audited.record(self._db, segment["_id"], {"name": name, "filter": group}, session)
        return segment

    async def list(self) -> list[dict[str, Any]]:
        return await self._col.find({}).sort("name", 1).to_list(500)

    async def get(self, segment_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, segment_id, "segment")

    async def update(self, segment_id: str, changes: dict[str, Any], audited: Audited) -> dict[str, Any]:
        if "filter" in changes:
            await compile_filter(self._db, changes["filter"])
        oid = object_id(segment_id, "segment")
        async with transaction(self._db) as session:
            updated = await self._col.find_one_and_update(
                {"_id": oid},
                {"$set": {**changes, "updated_at": utcnow()}},
                session=session,
                return_document=True,
            )
            if updated is None:
                raise NotFound(f"segment {segment_id} not found")
            await audited.record(self._db, oid, changes, session)
        return updated

    async def delete(self, segment_id: str, audited: Audited) -> None:
        oid = object_id(segment_id, "segment")
        async with transaction(self._db) as session:
            if not (await self._col.delete_one({"_id": oid}, session=session)).deleted_count:
                raise NotFound(f"segment {segment_id} not found")
            await audited.record(self._db, oid, {}, session)


def fields_described() -> list[dict[str, Any]]:
    """The fields and the ops each takes, for the console's builder."""
    return [
        {"field": name, "kind": field.kind, "ops": list(OPS[field.kind])} for name, field in FIELDS.items()
    ]
