"""Coupons: a code worth an amount (in a currency) or a percentage, valid until a time, for a
number of uses, for anyone or for one contact. Issued by staff (a goodwill gesture from the
conversation) or a shop through the API; redeemed atomically: one conditional update takes a
use, so a code is never used more often than it may be, however many redeem it at once."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core import money
from crm_core.errors import Conflict, Invalid, NotFound
from crm_core.records import object_id, utcnow

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed
CODE_LENGTH = 10
MAX_USES = 1_000_000


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Coupons:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._col = db.coupons

    async def issue(
        self,
        *,
        code: str | None,
        amount: Any,
        percent: Any,
        currency: str | None,
        max_uses: int,
        valid_until: datetime | None,
        contact_id: str | None,
        by: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A new coupon; its code generated when none is given (a taken one is a 409)."""
        if (amount is None) == (percent is None):
            raise Invalid("give either amount (with currency) or percent")
        worth: dict[str, Any]
        if amount is not None:
            if currency is None:
                raise Invalid("currency: needed with an amount")
            worth = {
                "amount": money.amount(amount, "amount"),
                "currency": money.currency(currency),
                "percent": None,
            }
        else:
            value = money.amount(percent, "percent")
            if not 0 < value <= 100:
                raise Invalid("percent: more than 0, at most 100")
            worth = {"amount": None, "currency": None, "percent": value}
        if not 0 < max_uses <= MAX_USES:
            raise Invalid(f"max_uses: from 1 to {MAX_USES:,}")
        until = valid_until if valid_until is None or valid_until.tzinfo else valid_until.replace(tzinfo=UTC)
        if until is not None and until <= utcnow():
            raise Invalid("valid_until: a time to come")
        owner = None
        if contact_id is not None:
            owner = object_id(contact_id, "contact")
            if await self._db.contacts.find_one({"_id": owner, "merged_into": None}, {"_id": 1}) is None:
                raise NotFound(f"contact {contact_id} not found")
        chosen = (code or "").strip().upper()
        if code is not None and not (3 <= len(chosen) <= 40 and chosen.replace("-", "").isalnum()):
            raise Invalid("code: 3-40 letters, digits and dashes")
        coupon = {
            "_id": ObjectId(), "code": chosen or new_code(), **worth, "max_uses": max_uses, "uses": 0,
            "remaining": max_uses, "valid_until": until, "contact_id": owner, "redemptions": [],
            "issued_by": by, "created_at": utcnow(),
        }  # fmt: skip
        try:
            await self._col.insert_one(coupon)
        except DuplicateKeyError as exc:
            raise Conflict(f"code {coupon['code']} is taken") from exc
        return coupon

    async def redeem(self, code: str, contact_id: str, order_number: str | None = None) -> dict[str, Any]:
        """Take one use of the coupon for this contact, or say why not (409)."""
        owner = object_id(contact_id, "contact")
        now = utcnow()
        redeemed = await self._col.find_one_and_update(
            {
                "code": code.strip().upper(),
                "remaining": {"$gt": 0},
                "contact_id": {"$in": [None, owner]},
                "valid_until": {"$not": {"$lte": now}},
            },
            {
                "$inc": {"uses": 1, "remaining": -1},
                "$push": {"redemptions": {"contact_id": owner, "at": now, "order_number": order_number}},
            },
            return_document=ReturnDocument.AFTER,
        )
        if redeemed is not None:
            return redeemed
        coupon = await self._col.find_one({"code": code.strip().upper()})
        if coupon is None:
            raise NotFound(f"coupon {code} not found")
        if coupon["remaining"] <= 0:
            raise Conflict("the coupon is used up")
        if coupon["valid_until"] is not None and coupon["valid_until"] <= now:
            raise Conflict("the coupon has expired")
        raise Conflict("the coupon is another customer's")

    async def of_contact(self, contact_id: ObjectId) -> list[dict[str, Any]]:
        """The coupons a contact may still use (their own and none used up), newest first."""
        found = await self._col.find({"contact_id": contact_id}).sort("created_at", -1).to_list(100)
        return [c for c in found if c["remaining"] > 0]
