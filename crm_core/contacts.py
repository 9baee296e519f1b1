"""One contact record per customer, whatever the channel: resolution, edits, search, merge."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core.addresses import normalize_email, normalize_phone
from crm_core.audit import Audited, audit_edit
from crm_core.contact_owned import CONTACT_OWNS
from crm_core.domain_events import EventLog, staff_actor
from crm_core.errors import Conflict, Invalid
from crm_core.records import (
    find_after_duplicate,
    find_by_id,
    find_page,
    insert_new,
    object_id,
    update_found,
    utcnow,
)
from crm_core.search import TermSearch, search_terms

EDITABLE = ("name", "emails", "phones", "company", "attributes")


@dataclass(frozen=True)
class SenderIdentity:
    """Who wrote a message, as the channel knows them."""

    channel: str
    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def identity(self) -> dict[str, str]:
        return {"channel": self.channel, "external_id": self.external_id}


def contact_terms(doc: dict[str, Any]) -> list[str]:
    emails = doc.get("emails", [])
    return search_terms(
        doc.get("name"),
        doc.get("company"),
        *emails,
        *(e.split("@")[0] for e in emails),
        *(p.lstrip("+") for p in doc.get("phones", [])),
    )


def new_contact(**fields: Any) -> dict[str, Any]:
    now = utcnow()
    doc = {
        "name": None,
        "emails": [],
        "phones": [],
        "identities": [],
        "company": None,
        "attributes": {},
        "consent": {"marketing": False, "changed_at": None, "source": None},
        "merged_into": None,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    doc["terms"] = contact_terms(doc)
    return doc


@dataclass(frozen=True)
class Consent:
    """A contact's word on marketing, and where it came from (a staff user, a message, a link)."""

    marketing: bool
    source: str

    def record(self) -> dict[str, Any]:
        return {"marketing": self.marketing, "changed_at": utcnow(), "source": self.source}


class Contacts:
    def __init__(
        self,
        db: AsyncDatabase,
        event_log: EventLog,
        term_search: TermSearch,
        *,
        phone_region: str | None = None,
    ) -> None:
        self._col = db.contacts
        self._db = db
        self._log = event_log
        self._term_search = term_search
        self._region = phone_region

    async def resolve(
        self,
        channel: str,
        external_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> ObjectId:
        """The contact for one channel identity (see `resolve_many`)."""
        (contact_id,) = await self.resolve_many([SenderIdentity(channel, external_id, name, email, phone)])
        return contact_id

    async def resolve_many(self, senders: Sequence[SenderIdentity]) -> list[ObjectId]:
        """Each sender's contact: by the identity itself, then lower-cased email, then E.164
        phone; a new contact when none matches. The identities are looked up in one query and
        the new contacts made in one insert: on the embedded server each write outside a
        transaction commits on its own, queued on the collection's lock, so a burst of new
        customers wrote one contact at a time. Safe under concurrent calls."""
        distinct = {(s.channel, s.external_id): s for s in senders}
        known = await self._by_identities([s.identity for s in distinct.values()])
        contact_ids = {key: contact["_id"] for key, contact in known.items()}
        new: dict[tuple[str, str], dict[str, Any]] = {}
        for key, sender in distinct.items():
            if key in known:
                continue
            email, phone = normalize_email(sender.email), normalize_phone(sender.phone, self._region)
            match = await self._by_address(sender.identity, email, phone)
            if match is None:
                new[key] = new_contact(
                    name=sender.name,
                    emails=[email] if email else [],
                    phones=[phone] if phone else [],
                    identities=[sender.identity],
                )
            else:
                contact_ids[key] = await self._link_identity(
                    match, sender.identity, sender.name, email, phone
                )
        contact_ids |= await self._create(new)
        return [contact_ids[(s.channel, s.external_id)] for s in senders]

    async def _by_address(
        self, identity: dict[str, str], email: str | None, phone: str | None
    ) -> dict[str, Any] | None:
        """The live contact with the sender's email or phone, best match first."""
        # One indexed query per address: the embedded server serves neither $or nor $elemMatch
        # from an index, and a scan per new sender grew with every contact.
        found = [
            contact
            for field, value in (("emails", email), ("phones", phone))
            if value
            for contact in await self._col.find({field: value, "merged_into": None}).to_list(20)
        ]
        return _best_match(found, identity, email, phone)

    async def _create(self, new: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], ObjectId]:
        if not new:
            return {}
        stored = await insert_new(
            self._col,
            list(new.values()),
            lambda doc: self._by_identity(doc["identities"][0]),
            "contact identity",
        )
        return {key: doc["_id"] for key, doc in zip(new, stored, strict=True)}

    async def _by_identity(self, identity: dict[str, str]) -> dict[str, Any] | None:
        return (await self._by_identities([identity])).get((identity["channel"], identity["external_id"]))

    async def _by_identities(self, identities: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The live contacts holding these channel identities, by identity: one query on the
        identity index's leading field (the external ids), each candidate then checked to hold
        the identity itself, not two halves of two."""
        wanted = {(i["channel"], i["external_id"]) for i in identities}
        candidates = await self._col.find(
            {"identities.external_id": {"$in": list({i["external_id"] for i in identities})}}
        ).to_list(None)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for contact in candidates:
            if contact.get("merged_into") is None:
                for held in contact.get("identities", []):
                    if (key := (held.get("channel"), held.get("external_id"))) in wanted:
                        found.setdefault(key, contact)
        return found

    async def _link_identity(
        self, match: dict[str, Any], identity: dict, name: str | None, email: str | None, phone: str | None
    ) -> ObjectId:
        """The sender's identity (and address) added to the contact that matched them; if another
        request linked the identity first, its contact is the one."""
        add: dict[str, Any] = {"identities": identity}
        if email:
            add["emails"] = email
        if phone:
            add["phones"] = phone
        linked = {**match, "name": match.get("name") or name}
        for key, value in add.items():
            if value not in linked.get(key, []):
                linked[key] = [*linked.get(key, []), value]
        try:
            await self._col.update_one(
                {"_id": match["_id"]},
                {
                    "$addToSet": add,
                    "$set": {"name": linked["name"], "terms": contact_terms(linked), "updated_at": utcnow()},
                },
            )
        except DuplicateKeyError:
            winner = await find_after_duplicate(lambda: self._by_identity(identity), "contact identity")
            return winner["_id"]
        return match["_id"]

    async def claim_email(self, contact_id: ObjectId, email: str) -> None:
        """An address the customer typed but has not proved (an anonymous widget visitor):
        kept in `unverified_emails` for agents to see, never used to match contacts."""
        await self._col.update_one(
            {"_id": contact_id, "emails": {"$ne": email}},
            {"$addToSet": {"unverified_emails": email}, "$set": {"updated_at": utcnow()}},
        )

    async def get(self, contact_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, contact_id, "contact")

    async def briefs(self, contact_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        """Name, addresses and tier of each contact, for lists that show who wrote."""
        fields = {"name": 1, "emails": 1, "phones": 1, "company": 1, "tier": 1}
        found = await self._col.find({"_id": {"$in": list(set(contact_ids))}}, fields).to_list(None)
        return {contact["_id"]: contact for contact in found}

    async def relationship(self, contact_id: Any, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
        """Everything the customer has with us that staff see, newest first (conversations on
        every channel, tickets, leads, deals, campaign enrolments: `contact_owned.CONTACT_OWNS`)."""
        contact = await find_by_id(self._col, contact_id, "contact")
        shown = [owned for owned in CONTACT_OWNS if owned.shown_sort is not None]
        found = await asyncio.gather(
            *(
                self._db[owned.collection]
                .find({"contact_id": contact["_id"]})
                .sort(owned.shown_sort)
                .to_list(limit)
                for owned in shown
                if owned.shown_sort is not None
            )
        )
        return {owned.collection: records for owned, records in zip(shown, found, strict=True)}

    async def has_history(self, contact_id: ObjectId, before: dict[str, Any]) -> bool:
        """Has this contact dealt with us before `before` (a message): an earlier classified
        message that was not spam, or any ticket, lead or deal (`CONTACT_OWNS`' history)? Spam
        from a stranger may be closed unseen; a customer's message never is."""
        for owned in CONTACT_OWNS:
            if owned.history is not None and await self._db[owned.collection].find_one(
                owned.history(contact_id, before), {"_id": 1}
            ):
                return True
        return False

    async def attributes(self, contact_id: ObjectId) -> dict[str, Any]:
        contact = await self._col.find_one({"_id": contact_id}, {"attributes": 1})
        return (contact or {}).get("attributes") or {}

    async def list(
        self, *, q: str | None, tier: str | None = None, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        clauses: list[dict[str, Any]] = [{"merged_into": None}]
        if tier is not None:
            clauses.insert(0, {"tier": tier})
        match = await self._term_search.match(q) if q else None
        if match:
            found = await self._term_search.find_ids(self._col, match, {"merged_into": None})
            clauses.insert(0, {"_id": {"$in": found}})
        items = await find_page(
            self._col, clauses, limit=limit, cursor=cursor, field="updated_at", windows=match is None
        )
        return await self._with_activity(items)

    async def _with_activity(self, contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each contact with what a list shows of their dealings: the channels they wrote on, when
        they last wrote or were written to, and how many of their conversations are not resolved
        (one query for the page)."""
        ids = [contact["_id"] for contact in contacts]
        pipeline = [
            {"$match": {"contact_id": {"$in": ids}, "message_count": {"$gt": 0}}},
            {
                "$group": {
                    "_id": "$contact_id",
                    "last": {"$max": "$last_message_at"},
                    "open": {"$sum": {"$cond": [{"$eq": ["$status", "resolved"]}, 0, 1]}},
                    "channels": {"$addToSet": "$channel"},
                }
            },
        ]
        rows = await (await self._db.conversations.aggregate(pipeline)).to_list(None) if ids else []
        activity = {row["_id"]: row for row in rows}
        return [
            contact
            | {
                "last_contact_at": activity.get(contact["_id"], {}).get("last"),
                "open_conversations": activity.get(contact["_id"], {}).get("open", 0),
                "channels": sorted(activity.get(contact["_id"], {}).get("channels", [])),
            }
            for contact in contacts
        ]

    async def create(self, fields: dict[str, Any], audited: Audited | None = None) -> dict[str, Any]:
        doc = new_contact(**self._clean(fields))
        await self._check_unclaimed(doc["emails"], doc["phones"], exclude=None)
        async with self._log.transaction() as session:
            await self._col.insert_one(doc, session=session)
            if audited is not None:
                await audited.record(self._db, doc["_id"], None, session)
        return doc

    async def update(
        self,
        contact_id: str | ObjectId,
        fields: dict[str, Any],
        *,
        consent: Consent | None = None,
        audited: Audited | None = None,
    ) -> tuple[dict, dict]:
        """Apply edits (and a change of marketing consent); returns (new record, the fields that
        changed with their old values). The contact is read in the transaction that changes it
        (its search terms, the old values and the audit entry are the ones this write made)."""
        changes = self._clean(fields)
        await self._check_unclaimed(
            changes.get("emails", []), changes.get("phones", []), exclude=object_id(contact_id, "contact")
        )
        async with self._log.transaction() as session:
            current = await find_by_id(self._col, contact_id, "contact", session)
            if current.get("merged_into"):
                raise Conflict("contact was merged into another; edit that one")
            if consent is not None and current["consent"].get("marketing") != consent.marketing:
                changes["consent"] = consent.record()
            if not changes:
                return current, {}
            merged = {**current, **changes}
            update = {"$set": {**changes, "terms": contact_terms(merged), "updated_at": utcnow()}}
            updated = await update_found(self._col, current["_id"], update, "contact", session)
            old = {k: current.get(k) for k in changes}
            await audit_edit(self._db, audited, updated, old, session)
        return updated, old

    async def set_consent(self, contact_id: ObjectId, consent: Consent) -> dict[str, Any]:
        """Record a marketing opt-in or opt-out and where it came from."""
        updated, _ = await self.update(contact_id, {}, consent=consent)
        return updated

    async def _check_unclaimed(self, emails: list[str], phones: list[str], exclude: ObjectId | None) -> None:
        """Two live contacts sharing an email or phone would make resolution ambiguous."""
        if not emails and not phones:
            return
        clash = None
        for field, values in (("emails", emails), ("phones", phones)):
            if values and clash is None:
                live = {field: {"$in": values}, "merged_into": None, "_id": {"$ne": exclude}}
                clash = await self._col.find_one(live, {"_id": 1})
        if clash:
            raise Conflict(
                f"another contact ({clash['_id']}) already has that email or phone; merge them instead"
            )

    def _clean(self, fields: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in fields.items():
            if key not in EDITABLE:
                raise Invalid(f"{key}: not an editable contact field")
            if key == "emails":
                value = _normalized_list(value, normalize_email, "emails")
            elif key == "phones":
                value = _normalized_list(value, lambda p: normalize_phone(p, self._region), "phones")
            clean[key] = value
        return clean

    async def merge(
        self,
        target_id: str | ObjectId,
        other_id: str | ObjectId,
        actor: dict[str, Any],
        audited: Audited | None = None,
    ) -> dict[str, Any]:
        """Fold `other` into `target`, both read inside the merge's transaction: identities,
        emails, phones, missing fields, and everything the customer has with us (each kind in
        `CONTACT_OWNS`, by its own merge rule) move over; `other` stays as a record with
        `merged_into` set."""
        async with self._log.transaction() as session:
            target = await find_by_id(self._col, target_id, "contact", session)
            other = await find_by_id(self._col, other_id, "contact", session)
            if target["_id"] == other["_id"]:
                raise Invalid("cannot merge a contact into itself")
            for doc in (target, other):
                if doc.get("merged_into"):
                    raise Conflict(f"contact {doc['_id']} was already merged into {doc['merged_into']}")
            now = utcnow()
            combined = _combine(target, other)
            # Identities are unique across contacts: release them before the target takes them.
            await self._col.update_one(
                {"_id": other["_id"]},
                {
                    "$set": {
                        "merged_into": target["_id"],
                        "identities": [],
                        "merged_identities": other.get("identities", []),
                        "updated_at": now,
                    }
                },
                session=session,
            )
            await self._col.update_one(
                {"_id": target["_id"]},
                {"$set": {**combined, "terms": contact_terms(combined), "updated_at": now}},
                session=session,
            )
            moved = {
                owned.collection: await owned.merge(self._db, other["_id"], target["_id"], session)
                for owned in CONTACT_OWNS
            }
            merged = self._log.new(
                "contact.merged",
                actor=staff_actor(actor),
                contact_id=target["_id"],
                merged_id=other["_id"],
                moved=moved,
            )
            await self._log.record([merged], session)
            if audited is not None:
                await audited.record(self._db, target["_id"], {"merged": other["_id"]}, session)
        result = await self.get(target["_id"])
        result["moved"] = moved
        result["moved_conversations"] = moved["conversations"]
        return result


def _best_match(found: list[dict], identity: dict, email: str | None, phone: str | None) -> dict | None:
    for test in (
        lambda d: identity in d.get("identities", []),
        lambda d: email is not None and email in d.get("emails", []),
        lambda d: phone is not None and phone in d.get("phones", []),
    ):
        for doc in found:
            if test(doc):
                return doc
    return None


def _normalized_list(values: Any, normalize, what: str) -> list[str]:
    if not isinstance(values, list):
        raise Invalid(f"{what}: expected a list")
    out: list[str] = []
    for raw in values:
        value = normalize(raw) if isinstance(raw, str) else None
        if value is None:
            raise Invalid(f"{what}: {raw!r} is not valid")
        if value not in out:
            out.append(value)
    return out


def _combine(target: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    def union(key: str) -> list:
        out = list(target.get(key, []))
        out.extend(v for v in other.get(key, []) if v not in out)
        return out

    return {
        "name": target.get("name") or other.get("name"),
        "company": target.get("company") or other.get("company"),
        "emails": union("emails"),
        "phones": union("phones"),
        "identities": union("identities"),
        "attributes": {**other.get("attributes", {}), **target.get("attributes", {})},
        "merged_from": [*target.get("merged_from", []), other["_id"]],
    }
