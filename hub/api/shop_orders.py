"""Orders pushed by shops: a generic signed webhook (the body of `POST /api/v1/orders`, signed as
the chat webhook is) and Shopify's order webhooks (their own HMAC header and order shape). Each
checks its signature before reading anything; a shop's retry updates the same order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from channels.base import PayloadError, SignatureError, same_secret, verify_hmac_sha256
from crm_core.orders import OrderInput, OrderItem
from hub.api.customer_value import OrderBody, order_input, shown_order
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()
SHOPIFY_SIGNATURE = "X-Shopify-Hmac-Sha256"
MAX_BODY = 1024 * 1024


@routes.route("POST", "/webhooks/orders",
              summary="A shop's order, shaped as the body of POST /api/v1/orders and signed with "
              "X-Hub-Signature-256 (HMAC-SHA256 of the raw body with HUB_ORDERS_WEBHOOK_SECRET). The same "
              "source and number again updates that order: 201 when new, 200 when updated.",
              tag="webhooks", roles=None, body=OrderBody, raw_body="application/json",
              ok_status=201)  # fmt: skip
async def order_webhook(call: Call) -> web.Response:
    secret = _secret(call.services.settings.orders_webhook_secret, "HUB_ORDERS_WEBHOOK_SECRET")
    body = await call.request.read()
    verify_hmac_sha256(secret, body, call.request.headers.get("X-Hub-Signature-256"))
    try:
        order = OrderBody.model_validate_json(body)
    except ValidationError as exc:
        raise PayloadError(f"not an order: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from exc
    stored, created = await call.services.orders.record(order_input(order), None)
    return json_ok(shown_order(stored), status=201 if created else 200)


@routes.route("POST", "/webhooks/shopify/orders",
              summary="Shopify's order webhooks (orders/create, orders/updated, orders/paid, "
              "orders/cancelled, orders/fulfilled), verified by X-Shopify-Hmac-Sha256 with "
              "HUB_SHOPIFY_WEBHOOK_SECRET; the order kept under source `shopify` and its order number.",
              tag="webhooks", roles=None, raw_body="application/json")  # fmt: skip
async def shopify_webhook(call: Call) -> web.Response:
    secret = _secret(call.services.settings.shopify_webhook_secret, "HUB_SHOPIFY_WEBHOOK_SECRET")
    body = await call.request.read()
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    given = call.request.headers.get(SHOPIFY_SIGNATURE)
    if not given or not same_secret(expected, given.strip()):
        raise SignatureError(f"{SHOPIFY_SIGNATURE} does not match the body")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise PayloadError("not JSON") from exc
    stored, created = await call.services.orders.record(shopify_order(payload), None)
    return json_ok({"id": stored["_id"], "created": created})


def _secret(secret: str | None, name: str) -> str:
    if not secret:
        raise ApiError(404, "not_configured", f"this webhook is off: set {name}")
    return secret


def shopify_order(payload: Any) -> OrderInput:
    """A Shopify order as ours: number, status from its financial and fulfilment states, the
    customer's email or phone, its lines."""
    if not isinstance(payload, dict):
        raise PayloadError("not a Shopify order")
    try:
        customer = payload.get("customer") or {}
        name = " ".join(filter(None, (customer.get("first_name"), customer.get("last_name")))) or None
        items = [
            OrderItem(str(line["title"]), line.get("sku") or None, int(line["quantity"]), str(line["price"]))
            for line in payload.get("line_items") or []
        ]
        return OrderInput(
            number=str(payload.get("order_number") or payload["name"]).lstrip("#"),
            status=_shopify_status(payload),
            currency=str(payload["currency"]),
            total=str(payload["total_price"]),
            placed_at=datetime.fromisoformat(str(payload["created_at"])),
            items=items,
            email=payload.get("email") or customer.get("email"),
            phone=payload.get("phone") or customer.get("phone"),
            name=name,
            source="shopify",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"not a Shopify order: {exc.__class__.__name__} {exc}"[:200]) from exc


def _shopify_status(payload: dict[str, Any]) -> str:
    if payload.get("cancelled_at"):
        return "cancelled"
    financial = payload.get("financial_status")
    if financial in ("refunded", "voided"):
        return "refunded"
    if payload.get("fulfillment_status") == "fulfilled":
        return "fulfilled"
    return "paid" if financial in ("paid", "partially_refunded", "partially_paid") else "pending"
