"""Staff accounts, argon2 password hashes and bearer tokens stored only as hashes."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core.addresses import normalize_email
from crm_core.audit import Audited, audit_edit
from crm_core.errors import Conflict, Invalid
from crm_core.records import find_by_id, modify_one, object_id, transaction, update_found, utcnow
from crm_core.vocabularies import ROLES

MIN_PASSWORD_LENGTH = 8
LINK_CODE_TTL = timedelta(minutes=15)
_hasher = PasswordHasher()
# Verifying against this keeps the timing of "no such user" close to "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k != "password_hash"}


class Users:
    def __init__(self, db: AsyncDatabase, *, token_ttl: timedelta = timedelta(days=30)) -> None:
        self._db = db
        self._col = db.users
        self._tokens = db.api_tokens
        self._link_codes = db.link_codes
        self._token_ttl = token_ttl

    async def create(
        self, email: str, password: str, role: str, name: str | None = None, audited: Audited | None = None
    ) -> dict[str, Any]:
        address = normalize_email(email)
        if address is None:
            raise Invalid("email: not a valid address")
        _check_role(role)
        now = utcnow()
        user = {
            "email": address,
            "name": name or address.split("@")[0],
            "role": role,
            "active": True,
            "password_hash": await _hash(password),
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with transaction(self._db) as session:
                await self._col.insert_one(user, session=session)
                if audited is not None:
                    await audited.record(self._db, user["_id"], {"role": role}, session)
        except DuplicateKeyError as exc:
            raise Conflict(f"a user with email {address} already exists") from exc
        return user

    async def count(self) -> int:
        return await self._col.count_documents({})

    async def list(self) -> list[dict[str, Any]]:
        return await self._col.find({}, {"password_hash": 0}).sort("email", 1).to_list(1000)

    async def directory(self) -> list[dict[str, Any]]:
        """Active staff as every colleague may see them (for assignee pickers and presence)."""
        fields = {"name": 1, "email": 1, "role": 1}
        return await self._col.find({"active": {"$ne": False}}, fields).sort("name", 1).to_list(1000)

    async def active_ids(self, user_ids: Sequence[str]) -> list[ObjectId]:
        """The ids of these users, each an active staff user (else Invalid, naming the first
        that is not)."""
        ids = list(dict.fromkeys(object_id(given, "user") for given in user_ids))
        if not ids:
            return []
        found = {
            u["_id"]
            for u in await self._col.find({"_id": {"$in": ids}, "active": True}, {"_id": 1}).to_list(None)
        }
        for wanted in ids:
            if wanted not in found:
                raise Invalid(f"mentions: no active staff user {wanted}")
        return ids

    async def get(self, user_id: Any) -> dict[str, Any]:
        return await find_by_id(self._col, user_id, "user")

    async def update(
        self, user_id: Any, fields: dict[str, Any], audited: Audited | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change name, role, active or password; returns (new record, old values), read in the
        transaction that changes it, with its audit entry (a password only as "changed")."""
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "role":
                _check_role(value)
            elif key == "password":
                key, value = "password_hash", await _hash(value)
            elif key not in ("name", "active"):
                raise Invalid(f"{key}: not an editable user field")
            changes[key] = value
        update = {"$set": {**changes, "updated_at": utcnow()}}
        async with transaction(self._db) as session:
            current = await find_by_id(self._col, user_id, "user", session)
            updated = await update_found(self._col, current["_id"], update, "user", session)
            if changes.get("active") is False or "password_hash" in changes:
                await self._tokens.delete_many({"user_id": current["_id"]}, session=session)
            old = {k: current.get(k) for k in changes if k != "password_hash"}
            password = {"password": "changed"} if "password_hash" in changes else {}
            await audit_edit(self._db, audited, updated, old, session, **password)
        return updated, old

    async def login(self, email: str, password: str) -> tuple[str, dict[str, Any]] | None:
        """A new bearer token for valid credentials of an active user, else None."""
        user = await self._col.find_one({"email": normalize_email(email) or "", "active": True})
        if not await _verify(user["password_hash"] if user else _DUMMY_HASH, password) or user is None:
            return None
        token = secrets.token_urlsafe(32)
        now = utcnow()
        await self._tokens.insert_one(
            {
                "token_hash": _token_hash(token),
                "user_id": user["_id"],
                "created_at": now,
                "expires_at": now + self._token_ttl,
            }
        )
        return token, user

    async def for_token(self, token: str) -> dict[str, Any] | None:
        record = await self._tokens.find_one(
            {"token_hash": _token_hash(token), "expires_at": {"$gt": utcnow()}}
        )
        if record is None:
            return None
        return await self._col.find_one({"_id": record["user_id"], "active": True})

    async def logout(self, token: str) -> None:
        await self._tokens.delete_one({"token_hash": _token_hash(token)})

    async def issue_link_code(self, user: dict[str, Any]) -> tuple[str, datetime]:
        """A one-time code the user sends to a chat app (`/link CODE`) to prove who they are there."""
        code = secrets.token_hex(4).upper()
        expires = utcnow() + LINK_CODE_TTL
        await self._link_codes.insert_one(
            {"code_hash": _token_hash(code), "user_id": user["_id"], "expires_at": expires}
        )
        return code, expires

    async def redeem_link_code(self, code: str, channel: str, external_id: str) -> dict[str, Any] | None:
        """Link the chat-app account to the code's staff user; None for an unknown or used code."""
        record = await self._link_codes.find_one_and_delete(
            {"code_hash": _token_hash(code.strip().upper()), "expires_at": {"$gt": utcnow()}}
        )
        if record is None:
            return None
        await self._col.update_many({f"links.{channel}": external_id}, {"$unset": {f"links.{channel}": ""}})
        return await modify_one(
            self._col, {"_id": record["user_id"], "active": True}, {"$set": {f"links.{channel}": external_id}}
        )

    async def active_by_email(self, email: str | None) -> dict[str, Any] | None:
        address = normalize_email(email)
        return await self._col.find_one({"email": address, "active": True}) if address else None

    async def linked(self, channel: str, external_id: str) -> dict[str, Any] | None:
        """The active staff user who linked this chat-app account, if any."""
        return await self._col.find_one({f"links.{channel}": external_id, "active": True})


def _check_role(role: Any) -> None:
    if role not in ROLES:
        raise Invalid(f"role: must be one of {', '.join(ROLES)}")


async def _hash(password: Any) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
