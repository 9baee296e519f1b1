"""A customer's own data, on request (GDPR's and PIPL's rights of access and erasure): everything
the hub holds about one contact exported, or erased. Both are driven by the registry of what a
contact owns (`contact_owned.CONTACT_OWNS`), so a new kind of record is covered by its entry."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.contact_owned import CONTACT_OWNS, Erasure
from crm_core.errors import Invalid
from crm_core.records import find_by_id, transaction, utcnow


class CustomerData:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def export(self, contact_id: str) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """The contact's profile and every record they own, and the files among them (name in
        the archive, bytes): attachments they sent, and files agents sent them."""
        contact = await find_by_id(self._db.contacts, contact_id, "contact")
        owned: dict[str, list[dict[str, Any]]] = {}
        for kind in CONTACT_OWNS:
            records = await self._db[kind.collection].find({"contact_id": contact["_id"]}).to_list(None)
            owned[kind.collection] = records
        files: list[tuple[str, bytes]] = []
        for message in owned.get("messages", []):
            for index, attachment in enumerate(message.get("attachments", [])):
                if attachment.get("content") is not None:
                    attachment["file"] = f"attachments/{message['_id']}-{index}-{attachment['name']}"
                    files.append((attachment["file"], bytes(attachment.pop("content"))))
        for upload in owned.get("uploads", []):
            upload["file"] = f"uploads/{upload['_id']}-{upload['name']}"
            files.append((upload["file"], bytes(upload.pop("content"))))
        profile_changes = await self._db.audit.find(
            {"target_type": "contact", "target_id": contact["_id"]}, {"actor_email": 0}
        ).to_list(None)
        data = {"exported_at": utcnow(), "contact": contact, **owned, "changes": profile_changes}
        return data, files

    async def erase(self, contact_id: str, confirm: str, audited: Audited) -> dict[str, int]:
        """Erase the customer: their profile's personal data and identities (a new message from
        the same address makes a new contact), their conversations, messages and files, their
        campaign history, the outbound messages still queued to them and the notifications
        quoting them; the business's own records (tickets, leads, deals) stay with their words
        removed, and report figures stay. The audit keeps that it happened, by whom and when."""
        contact = await find_by_id(self._db.contacts, contact_id, "contact")
        if confirm != str(contact["_id"]):
            raise Invalid("confirm: the contact's id, to say which customer is erased")
        cid = contact["_id"]
        conversations = [
            c["_id"] for c in await self._db.conversations.find({"contact_id": cid}, {"_id": 1}).to_list(None)
        ]
        leads = [
            lead["_id"] for lead in await self._db.leads.find({"contact_id": cid}, {"_id": 1}).to_list(None)
        ]
        counts: dict[str, int] = {}
        async with transaction(self._db) as session:
            for kind in CONTACT_OWNS:
                collection = self._db[kind.collection]
                if kind.erasure is Erasure.DELETE:
                    removed = await collection.delete_many({"contact_id": cid}, session=session)
                    counts[kind.collection] = removed.deleted_count
                else:
                    changed = await collection.update_many(
                        {"contact_id": cid},
                        {"$set": kind.anonymised | {"erased_at": utcnow()}},
                        session=session,
                    )
                    counts[kind.collection] = changed.modified_count
            queued = await self._db.jobs.delete_many(
                {
                    "payload.conversation_id": {"$in": conversations},
                    "status": {"$in": ["pending", "running", "parked"]},
                },
                session=session,
            )
            counts["queued_messages"] = queued.deleted_count
            told = await self._db.notifications.delete_many(
                {"$or": [{"conversation_id": {"$in": conversations}}, {"lead_id": {"$in": leads}}]},
                session=session,
            )
            counts["notifications"] = told.deleted_count
            # The trail of changes to the profile quoted its data: the entries stay, their contents go.
            await self._db.audit.update_many(
                {"target_type": "contact", "target_id": cid},
                {"$set": {"changes": {"erased": True}}},
                session=session,
            )
            await self._db.contacts.update_one({"_id": cid}, {"$set": _anonymous_profile()}, session=session)
            await audited.record(self._db, cid, {"erased": counts}, session)
        return counts


def _anonymous_profile() -> dict[str, Any]:
    return {
        "name": None,
        "emails": [],
        "phones": [],
        "identities": [],
        "unverified_emails": [],
        "company": None,
        "attributes": {},
        "terms": [],
        "consent": {"marketing": False, "changed_at": utcnow(), "source": "erasure"},
        "erased_at": utcnow(),
    }
