"""API keys for integrations: a script's credential with named scopes (`contacts:read`...),
not a person's role. A key is shown once when made; only its SHA-256 is stored (it is 32
random bytes, so no slow hash is needed). It names itself as the actor of what it changes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.errors import Invalid, NotFound
from crm_core.records import modify_one, object_id, transaction, utcnow
from crm_core.vocabularies import API_SCOPES

KEY_PREFIX = "hubk_"
API_KEY_ROLE = "api_key"  # a key's principal: no staff role, only its scopes
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is kept this coarse: no write per request


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def shown(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "key_hash"}


def principal(record: dict[str, Any]) -> dict[str, Any]:
    """The key as the one calling: what routes, the audit trail and events read of an actor."""
    return {
        "_id": record["_id"],
        "role": API_KEY_ROLE,
        "kind": "api_key",
        "name": f"API key {record['name']}",
        "email": None,
        "scopes": record["scopes"],
    }


class ApiKeys:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._col = db.api_keys

    async def create(
        self, name: str, scopes: Sequence[str], expires_at: datetime | None, audited: Audited
    ) -> tuple[dict[str, Any], str]:
        """A new key and its secret text (the only time it is given out)."""
        unknown = sorted(set(scopes) - set(API_SCOPES))
        if unknown or not scopes:
            raise Invalid(f"scopes: one or more of {', '.join(API_SCOPES)}")
        key_id = ObjectId()
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = {
            "_id": key_id,
            "name": name,
            "scopes": sorted(set(scopes)),
            "key_hash": _hash(key),
            "prefix": key[: len(KEY_PREFIX) + 8],
            "created_at": utcnow(),
            "created_by": audited.actor["_id"],
            "expires_at": expires_at,
            "last_used_at": None,
            "revoked_at": None,
        }
        async with transaction(self._db) as session:
            await self._col.insert_one(record, session=session)
            await audited.record(self._db, key_id, {"name": name, "scopes": record["scopes"]}, session)
        return record, key

    async def list(self) -> list[dict[str, Any]]:
        return await self._col.find({}, {"key_hash": 0}).sort("created_at", -1).to_list(None)

    async def revoke(self, key_id: str, audited: Audited) -> dict[str, Any]:
        oid = object_id(key_id, "API key")
        async with transaction(self._db) as session:
            revoked = await modify_one(
                self._col, {"_id": oid}, {"$set": {"revoked_at": utcnow()}}, session=session
            )
            if revoked is None:
                raise NotFound(f"API key {key_id} not found")
            await audited.record(self._db, oid, {"revoked": True}, session)
        return revoked

    async def for_key(self, key: str) -> dict[str, Any] | None:
        """The live key this text is (not revoked, not expired), its use noted."""
        now = utcnow()
        record = await self._col.find_one({"key_hash": _hash(key), "revoked_at": None})
        if record is None or (record["expires_at"] is not None and record["expires_at"] <= now):
            return None
        if record["last_used_at"] is None or now - record["last_used_at"] > LAST_USED_EVERY:
            await self._col.update_one({"_id": record["_id"]}, {"$set": {"last_used_at": now}})
        return record
