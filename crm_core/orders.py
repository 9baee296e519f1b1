"""Orders: what customers bought, sent by a shop, an ERP or a script. An order belongs to a
contact, named by id or found by email or phone through the same identity resolution as every
channel (a new customer is made a contact). An order is kept once per source and number: the
same number again updates it. Each change is recorded with its event, and its effect on the
contact (purchases, points, tier: `customer_value`) made, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_core import money
from crm_core.addresses import normalize_email, normalize_phone
from crm_core.contacts import new_contact
from crm_core.customer_value import CustomerValue
from crm_core.domain_events import EventLog
from crm_core.errors import Invalid, NotFound
from crm_core.live import LiveEvent, LivePublisher
from crm_core.records import find_by_id, object_id, utcnow
from crm_core.vocabularies import ORDER_STATUSES

MAX_ITEMS = 500
MAX_QUANTITY = 1_000_000
FUTURE_SLACK = timedelta(days=1)  # a shop's clock may be ahead; an order from next year is not


@dataclass
class OrderItem:
    name: str
    sku: str | None
    quantity: int
    price: str | float


@dataclass
class OrderInput:
    """An order as a shop sends it: its customer by `contact_id`, `email` or `phone`."""

    number: str
    status: str
    currency: str
    total: str | float
    placed_at: datetime
    items: list[OrderItem] = field(default_factory=list)
    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    source: str = "api"


class Orders:
    def __init__(
        self,
        db: AsyncDatabase,
        events: LivePublisher,
        event_log: EventLog,
        value: CustomerValue,
        *,
        base_currency: str,
        rates: dict[str, float],
        phone_region: str | None,
    ) -> None:
        self._db = db
        self._col = db.orders
        self._events = events
        self._log = event_log
        self._value = value
        self._base = base_currency
        self._rates = rates
        self._region = phone_region

    async def get(self, order_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, order_id, "order")

    async def of_contact(self, contact_id: ObjectId, limit: int) -> list[dict[str, Any]]:
        return await self._col.find({"contact_id": contact_id}).sort("placed_at", -1).to_list(limit)

    async def mentioned_in(self, conversation_id: ObjectId) -> list[dict[str, Any]]:
        """The orders whose numbers the NLP found in a conversation's messages, newest first."""
        messages = self._db.messages.find(
            {"conversation_id": conversation_id, "nlp.entities.type": "order"}, {"nlp.entities": 1}
        )
        numbers = {
            entity["value"]
            async for message in messages
            for entity in message["nlp"]["entities"]
            if entity.get("type") == "order"
        }
        if not numbers:
            return []
        return await self._col.find({"number": {"$in": sorted(numbers)}}).sort("placed_at", -1).to_list(20)

    async def by_number(self, number: str) -> dict[str, Any] | None:
        """The newest order with this number, whatever its source (an order number in a message)."""
        return await self._col.find_one({"number": number}, sort=[("placed_at", -1)])

    async def record(self, order: OrderInput, actor: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        """Store the order, or update the one with its source and number; returns it and
        whether it is new. Two requests for one new number at once: the unique key refuses the
        second insert, which is then an update."""
        fields = self._checked(order)
        contact_id = await self._contact(order)
        assert contact_id is not None  # made when new
        try:
            return await self._write(order.source, fields, contact_id, actor)
        except DuplicateKeyError:
            return await self._write(order.source, fields, contact_id, actor)

    async def _write(
        self, source: str, fields: dict[str, Any], contact_id: ObjectId, actor: dict[str, Any] | None
    ) -> tuple[dict[str, Any], bool]:
        async with self._log.transaction() as session:
            before = await self._col.find_one({"source": source, "number": fields["number"]}, session=session)
            now = utcnow()
            if before is None:
                after = {"_id": ObjectId(), "source": source, "contact_id": contact_id, **fields,
                         "created_at": now, "updated_at": now}  # fmt: skip
                await self._col.insert_one(after, session=session)
                events = [self._placed(after, actor)]
            else:
                after = before | fields | {"updated_at": now}
                await self._col.replace_one({"_id": before["_id"]}, after, session=session)
                changed = before["status"] != after["status"]
                events = [self._status_changed(before, after, actor)] if changed else []
            events += await self._value.order_changed(before, after, session)
            await self._log.record(events, session)
        self._events.publish(LiveEvent.ORDER_UPDATED if before else LiveEvent.ORDER_CREATED, after)
        return after, before is None

    @property
    def base_currency(self) -> str:
        return self._base

    async def imported(self, order: OrderInput, dry_run: bool) -> str:
        """An order from an import: created, updated or skipped (known and unchanged); with
        `dry_run`, what recording it would be, nothing written."""
        fields = self._checked(order)
        known = await self._col.find_one({"source": order.source, "number": fields["number"]})
        if known is not None and all(known.get(k) == v for k, v in fields.items() if k != "placed_at"):
            return "skipped"
        if not dry_run:
            await self.record(order, None)
        elif known is None:
            await self._contact(order, create=False)
        return "created" if known is None else "updated"

    def _checked(self, order: OrderInput) -> dict[str, Any]:
        number = order.number.strip()
        if not 0 < len(number) <= 100:
            raise Invalid("number: 1-100 characters")
        if order.status not in ORDER_STATUSES:
            raise Invalid(f"status: one of {', '.join(ORDER_STATUSES)}")
        currency = money.currency(order.currency)
        total = money.amount(order.total, "total")
        placed_at = order.placed_at if order.placed_at.tzinfo else order.placed_at.replace(tzinfo=UTC)
        if placed_at > utcnow() + FUTURE_SLACK or placed_at.year < 1970:
            raise Invalid("placed_at: a time from 1970 to now")
        if len(order.items) > MAX_ITEMS:
            raise Invalid(f"items: at most {MAX_ITEMS}")
        items = [_item(item, n) for n, item in enumerate(order.items)]
        rate = 1.0 if currency == self._base else self._rates.get(currency)
        return {
            "number": number,
            "status": order.status,
            "currency": currency,
            "total": total,
            # Spend in the base currency (RFM, points); None where no rate is configured for it.
            "total_base": None if rate is None else round(total * rate, 2),
            "placed_at": placed_at,
            "items": items,
        }

    async def _contact(self, order: OrderInput, *, create: bool = True) -> ObjectId | None:
        """The order's customer: by id, else by email then phone, else a new contact (unless not
        to `create`: a dry run checks the addresses only)."""
        if order.contact_id:
            contact = await self._db.contacts.find_one(
                {"_id": object_id(order.contact_id, "contact"), "merged_into": None}, {"_id": 1}
            )
            if contact is None:
                raise NotFound(f"contact {order.contact_id} not found")
            return contact["_id"]
        email, phone = normalize_email(order.email or ""), normalize_phone(order.phone or "", self._region)
        if order.email and email is None:
            raise Invalid("email: not an address")
        if order.phone and phone is None:
            raise Invalid("phone: not a number (give it in international form)")
        for name, value in (("emails", email), ("phones", phone)):
            if value and (found := await self._db.contacts.find_one({name: value, "merged_into": None})):
                return found["_id"]
        if not (email or phone):
            raise Invalid("an order names its customer: contact_id, email or phone")
        if not create:
            return None
        contact = new_contact(name=(order.name or "").strip()[:200] or None,
                              emails=[email] if email else [], phones=[phone] if phone else [])  # fmt: skip
        await self._db.contacts.insert_one(contact)
        return contact["_id"]

    def _placed(self, order: dict[str, Any], actor: dict[str, Any] | None) -> dict[str, Any]:
        return self._log.new(
            "order.placed", actor=actor, order_id=order["_id"], contact_id=order["contact_id"],
            number=order["number"], status=order["status"], total=order["total"], currency=order["currency"],
        )  # fmt: skip

    def _status_changed(
        self, before: dict[str, Any], after: dict[str, Any], actor: dict[str, Any] | None
    ) -> dict[str, Any]:
        return self._log.new(
            "order.status_changed", actor=actor, order_id=after["_id"], contact_id=after["contact_id"],
            number=after["number"], status={"from": before["status"], "to": after["status"]},
        )  # fmt: skip


def _item(item: OrderItem, n: int) -> dict[str, Any]:
    name = item.name.strip()
    if not 0 < len(name) <= 300:
        raise Invalid(f"items[{n}].name: 1-300 characters")
    whole = isinstance(item.quantity, int) and not isinstance(item.quantity, bool)
    if not whole or not 0 < item.quantity <= MAX_QUANTITY:
        raise Invalid(f"items[{n}].quantity: a whole number from 1 to {MAX_QUANTITY:,}")
    price = money.amount(item.price, f"items[{n}].price")
    return {
        "name": name,
        "sku": (item.sku or "").strip()[:100] or None,
        "quantity": item.quantity,
        "price": price,
    }
