"""A customer's value: orders (from shops and scripts), RFM scores and tiers, membership points,
coupons; and the tiers and levels admins define."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.customer_value import ValueConfig
from crm_core.domain_events import staff_actor
from crm_core.orders import OrderInput, OrderItem
from crm_core.records import object_id
from crm_core.vocabularies import ADMINS, ALL_STAFF, INBOX_WORKERS, ApiScope, OrderStatus
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()
Money = Decimal | float | int


class ItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    sku: str | None = Field(default=None, max_length=100)
    quantity: int = Field(ge=1, le=1_000_000)
    price: Money = Field(description='a decimal string, such as "19.90"')


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(
        min_length=1, max_length=100, description="the shop's order number: sent again, it updates"
    )
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    contact_id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200, description="the customer's, for a new contact")
    status: OrderStatus
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217")
    total: Money = Field(description='a decimal string, such as "59.70"')
    placed_at: datetime
    items: list[ItemBody] = Field(default_factory=list, max_length=500)
    source: str = Field(
        default="api", min_length=1, max_length=50, description="the shop or system it came from"
    )


def shown_order(order: dict[str, Any]) -> dict[str, Any]:
    """Amounts as decimal strings, as they were sent."""
    items = [item | {"price": f"{item['price']:.2f}"} for item in order.get("items", [])]
    return order | {"total": f"{order['total']:.2f}", "items": items}


@routes.route("POST", "/api/v1/orders",
              summary="Record an order (a shop, an ERP): its customer by contact_id, email or phone (a new "
              "customer becomes a contact). The same source and number again updates that order (200, the "
              "same id), never a second one. A purchase (paid, fulfilled) counts for the customer's RFM "
              "scores and earns a point per whole unit of HUB_BASE_CURRENCY; cancelled or refunded takes "
              "them back.",
              scope=ApiScope.ORDERS_WRITE, tag="customers", roles=ADMINS, body=OrderBody,
              ok_status=201)  # fmt: skip
async def record_order(call: Call) -> web.Response:
    stored, created = await call.services.orders.record(order_input(call.body), staff_actor(call.actor))
    return json_ok(shown_order(stored), status=201 if created else 200)


def order_input(body: OrderBody) -> OrderInput:
    return OrderInput(
        **body.model_dump(exclude={"items", "total", "status"}),
        status=body.status.value,
        total=str(body.total),
        items=[OrderItem(item.name, item.sku, item.quantity, str(item.price)) for item in body.items],
    )


@routes.route("GET", "/api/v1/orders",
              summary="A customer's orders, newest first (contact_id), or the orders with a number.",
              scope=ApiScope.ORDERS_READ, tag="customers", roles=ALL_STAFF,
              query=(QueryParam("contact_id", "the customer"), QueryParam("number", "an order number"),
                     QueryParam("limit", "1-100, default 25", "integer")))  # fmt: skip
async def list_orders(call: Call) -> web.Response:
    if (number := call.query("number")) is not None:
        found = await call.services.orders.by_number(number)
        return json_ok({"items": [shown_order(found)] if found else []})
    contact_id = object_id(call.query("contact_id"), "contact")
    items = await call.services.orders.of_contact(contact_id, call.limit())
    return json_ok({"items": [shown_order(order) for order in items]})


@routes.route("GET", "/api/v1/orders/{id}", summary="One order.",
              scope=ApiScope.ORDERS_READ, tag="customers", roles=ALL_STAFF)  # fmt: skip
async def get_order(call: Call) -> web.Response:
    return json_ok(shown_order(await call.services.orders.get(call.path("id"))))


@routes.route("GET", "/api/v1/contacts/{id}/value",
              summary="What the customer is worth, for the side of a conversation: RFM scores, tier, "
              "membership level and points, purchases, the last orders, usable coupons, the latest points; "
              "with conversation_id, the orders its messages mention by number.",
              scope=ApiScope.CONTACTS_READ, tag="customers", roles=ALL_STAFF,
              query=(QueryParam("conversation_id", "also the orders whose numbers this conversation's "
                                "messages mention (`mentioned`)"),))  # fmt: skip
async def contact_value(call: Call) -> web.Response:
    services = call.services
    contact = await services.customer_value.shown(await services.contacts.get(call.path("id")))
    orders = await services.orders.of_contact(contact["_id"], 5)
    conversation_id = call.query("conversation_id")
    mentioned = (
        await services.orders.mentioned_in(object_id(conversation_id, "conversation"))
        if conversation_id
        else []
    )
    return json_ok(
        {key: contact[key] for key in ("_id", "rfm", "tier", "membership", "purchases")}
        | {
            "orders": [shown_order(order) for order in orders],
            "mentioned": [shown_order(order) for order in mentioned],
            "coupons": await services.coupons.of_contact(contact["_id"]),
            "points": await services.customer_value.ledger(contact["_id"], 10),
            "base_currency": services.settings.base_currency,
        }
    )


class PointsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: int = Field(ge=-1_000_000, le=1_000_000, description="added (or, negative, taken away)")
    reason: str = Field(min_length=1, max_length=300)


@routes.route("POST", "/api/v1/contacts/{id}/points",
              summary="Add or take away membership points, with the reason (kept in the ledger); the "
              "balance never goes below zero.",
              tag="customers", roles=INBOX_WORKERS, body=PointsBody)  # fmt: skip
async def adjust_points(call: Call) -> web.Response:
    contact = await call.services.contacts.get(call.path("id"))
    body: PointsBody = call.body
    changed = await call.services.customer_value.adjust_points(
        contact["_id"], body.points, body.reason, staff_actor(call.actor)
    )
    return json_ok(await call.services.customer_value.shown(changed))


class CouponBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, max_length=40, description="generated when absent")
    amount: Money | None = None
    percent: Money | None = None
    currency: str | None = Field(default=None, max_length=3)
    max_uses: int = Field(default=1, ge=1, le=1_000_000)
    valid_until: datetime | None = None
    contact_id: str | None = Field(default=None, max_length=64, description="only this customer may use it")


@routes.route("POST", "/api/v1/coupons",
              summary="Issue a coupon: an amount (with currency) or a percent, for max_uses uses, until "
              "valid_until, for anyone or one contact (a goodwill gesture from a conversation).",
              scope=ApiScope.COUPONS_WRITE, tag="customers", roles=ALL_STAFF, body=CouponBody,
              ok_status=201)  # fmt: skip
async def issue_coupon(call: Call) -> web.Response:
    body: CouponBody = call.body
    coupon = await call.services.coupons.issue(
        **body.model_dump(exclude={"amount", "percent"}),
        amount=None if body.amount is None else str(body.amount),
        percent=None if body.percent is None else str(body.percent),
        by=staff_actor(call.actor),
    )
    return json_ok(coupon, status=201)


class RedeemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str = Field(max_length=64)
    order_number: str | None = Field(default=None, max_length=100)


@routes.route("POST", "/api/v1/coupons/{code}/redeem",
              summary="Use a coupon once for a contact: 409 once it is used up, expired or another "
              "customer's (two redeeming its last use at once: one of them gets the 409).",
              scope=ApiScope.COUPONS_WRITE, tag="customers", roles=ADMINS, body=RedeemBody)  # fmt: skip
async def redeem_coupon(call: Call) -> web.Response:
    body: RedeemBody = call.body
    return json_ok(await call.services.coupons.redeem(call.path("code"), body.contact_id, body.order_number))


@routes.route("GET", "/api/v1/customer-value",
              summary="The customer tiers (first match wins), membership levels and RFM cut points.",
              tag="customers", roles=ALL_STAFF)  # fmt: skip
async def value_config(call: Call) -> web.Response:
    return json_ok((await call.services.customer_value.config()).model_dump())


@routes.route("PUT", "/api/v1/customer-value",
              summary="Define the tiers (each with English and Chinese names and score ranges), the "
              "membership levels and, with fixed_cut_points, the RFM cut points; everyone is re-ranked.",
              tag="customers", roles=ADMINS, body=ValueConfig)  # fmt: skip
async def configure_value(call: Call) -> web.Response:
    return json_ok((await call.services.customer_value.configure(call.body)).model_dump())


@routes.route("POST", "/api/v1/customer-value/recompute",
              summary="Re-rank every customer now (it runs hourly by itself).",
              tag="customers", roles=ADMINS)  # fmt: skip
async def recompute_value(call: Call) -> web.Response:
    return json_ok(await call.services.customer_value.recompute())
