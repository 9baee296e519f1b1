"""Where each polled mailbox got to, so a restart neither skips nor re-reads mail."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.records import utcnow


class MailboxState:
    def __init__(self, db: AsyncDatabase) -> None:
        self._col = db.mailboxes

    async def last_uid(self, mailbox: str, uidvalidity: int) -> int:
        """The last UID ingested; 0 when the server renumbered the mailbox (new UIDVALIDITY),
        in which case everything is read again and dedupe on Message-ID keeps it single."""
        state = await self._col.find_one({"_id": mailbox})
        if state is None or state.get("uidvalidity") != uidvalidity:
            return 0
        return state["last_uid"]

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        await self._col.update_one(
            {"_id": mailbox},
            {"$set": {"uidvalidity": uidvalidity, "last_uid": last_uid, "updated_at": utcnow()}},
            upsert=True,
        )

    async def park(self, mailbox: str, uid: int, reason: str) -> None:
        """Remember a mail that could not be stored at all (the latest 100), for an admin."""
        parked = {"uid": uid, "reason": reason, "at": utcnow()}
        await self._col.update_one(
            {"_id": mailbox}, {"$push": {"parked": {"$each": [parked], "$slice": -100}}}, upsert=True
        )
