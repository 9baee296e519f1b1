"""Files an agent uploads for a reply or note before sending it. An upload is kept a day unless
a message claims it; the message then lists it as an attachment, and its bytes stay here (a
message document stays small whatever it carries)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bson import Binary, ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.errors import Invalid, NotFound
from crm_core.records import object_id, utcnow

UNCLAIMED_FOR = timedelta(days=1)
# Who an upload is for: a reply goes through the channel (its rules apply), a note stays here.
PURPOSES = ("reply", "note")


class Uploads:
    def __init__(self, db: AsyncDatabase) -> None:
        self._col = db.uploads

    async def store(
        self,
        conversation: dict[str, Any],
        uploader_id: ObjectId,
        *,
        purpose: str,
        name: str,
        content_type: str,
        content: bytes,
    ) -> dict[str, Any]:
        now = utcnow()
        upload = {
            "_id": ObjectId(),
            "conversation_id": conversation["_id"],
            "contact_id": conversation["contact_id"],
            "uploaded_by": uploader_id,
            "purpose": purpose,
            "name": name,
            "content_type": content_type,
            "size": len(content),
            "content": Binary(content),
            "message_id": None,
            "created_at": now,
            "expires_at": now + UNCLAIMED_FOR,
        }
        await self._col.insert_one(upload)
        return described(upload)

    async def claim(
        self,
        ids: Sequence[str],
        message: dict[str, Any],
        uploader_id: ObjectId,
        purpose: str,
        session: AsyncClientSession,
    ) -> list[dict[str, Any]]:
        """`message`'s attachments: this uploader's unclaimed uploads to its conversation for
        this purpose, now kept for good. Any other id refuses the message."""
        wanted = [object_id(upload_id, "upload") for upload_id in ids]
        mine = {
            "_id": {"$in": wanted},
            "conversation_id": message["conversation_id"],
            "uploaded_by": uploader_id,
            "purpose": purpose,
            "message_id": None,
        }
        found = {
            upload["_id"]: upload
            for upload in await self._col.find(mine, {"content": 0}, session=session).to_list(None)
        }
        if missing := [str(upload_id) for upload_id in wanted if upload_id not in found]:
            raise Invalid(f"attachments: no unsent {purpose} upload of yours here: {', '.join(missing)}")
        await self._col.update_many(
            mine, {"$set": {"message_id": message["_id"]}, "$unset": {"expires_at": ""}}, session=session
        )
        return [
            {
                "name": up["name"],
                "content_type": up["content_type"],
                "size": up["size"],
                "upload_id": up["_id"],
            }
            for up in (found[upload_id] for upload_id in wanted)
        ]

    async def content(self, upload_id: ObjectId) -> bytes:
        upload = await self._col.find_one({"_id": upload_id}, {"content": 1})
        if upload is None:
            raise NotFound(f"upload {upload_id} not found")
        return bytes(upload["content"])


def file_name(name: str) -> str:
    """A file's name as given, without any folder part or control characters."""
    base = name.replace("\\", "/").rpartition("/")[2]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    if not 1 <= len(cleaned) <= 200 or cleaned in (".", ".."):
        raise Invalid("name: the file's name, 1-200 characters")
    return cleaned


def described(upload: dict[str, Any]) -> dict[str, Any]:
    """An upload as its uploader sees it (never its bytes)."""
    return {key: upload[key] for key in ("_id", "name", "content_type", "size", "purpose", "created_at")}
