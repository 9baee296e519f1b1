"""Message retention: the bodies of messages older than a set number of days removed (their
text, markup, quoted text and files), the records kept, so threads, counts and reports stay.
Off unless set (HUB_MESSAGE_RETENTION_DAYS)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.records import utcnow

BATCH = 1000
REMOVED = {"text": "", "html": None, "original_text": None, "terms": []}


class MessageRetention:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def remove_bodies(self, before: datetime) -> int:
        """One batch of messages written before `before` loses its bodies; returns how many (0:
        none left). Agents' uploaded files go with them; previews older than that are emptied."""
        old = {"created_at": {"$lt": before}, "body_removed_at": None}
        found = await self._db.messages.find(old, {"_id": 1}).limit(BATCH).to_list(None)
        ids = [message["_id"] for message in found]
        if not ids:
            return 0
        now = utcnow()
        await self._db.uploads.delete_many({"message_id": {"$in": ids}})
        await self._db.messages.update_many(
            {"_id": {"$in": ids}},
            {"$set": {**REMOVED, "attachments.$[].content": None, "body_removed_at": now}},
        )
        await self._db.conversations.update_many(
            {"last_message.id": {"$in": ids}}, {"$set": {"last_message.text": ""}}
        )
        return len(ids)
