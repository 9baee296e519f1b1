"""A customer's value through the API: orders from a shop (idempotent on their number, the
customer found or made by email), the purchases, points and tier they give, coupons redeemed
once however many try at once, staff's point adjustments, tiers re-ranked against the customer
base, and merge and erasure carrying orders and points."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from channels.base import hmac_sha256_signature
from tests.conftest import chat_message, unsure_analysis


def order(number: str, **overrides) -> dict:
    return {
        "number": number,
        "email": "Buyer@Example.com",
        "status": "paid",
        "currency": "USD",
        "total": "59.70",
        "placed_at": datetime.now(UTC).isoformat(),
        "items": [{"name": "Tea set", "sku": "TEA-1", "quantity": 3, "price": "19.90"}],
    } | overrides


async def test_an_order_sent_twice_is_one_order_and_its_purchase_shows_on_the_contact(hub):
    admin = await hub.login("admin")
    status, first = await hub.call("POST", "/api/v1/orders", admin, json=order("10234"))
    assert status == 201, first
    assert first["total"] == "59.70" and first["items"][0]["price"] == "19.90"
    status, again = await hub.call("POST", "/api/v1/orders", admin, json=order("10234", status="fulfilled"))
    assert status == 200 and again["id"] == first["id"] and again["status"] == "fulfilled"
    assert await hub.db.orders.count_documents({}) == 1

    status, contact = await hub.call("GET", f"/api/v1/contacts/{first['contact_id']}", admin)
    assert status == 200 and contact["emails"] == ["buyer@example.com"]
    assert set(contact["rfm"]) == {"recency", "frequency", "monetary"} and contact["rfm"]["recency"] == 5
    assert contact["tier"] == "Promising" and contact["membership"] == {"level": "Member", "points": 59}

    listed = await hub.call("GET", "/api/v1/contacts?tier=Promising", admin)
    assert [c["id"] for c in listed[1]["items"]] == [first["contact_id"]]
    events = [e["type"] for c in await hub.db.events.find({}).to_list(None) for e in c["events"]]
    assert events.count("order.placed") == 1 and "order.status_changed" in events
    assert "contact.tier_changed" in events

    # A refund takes the purchase and its points back, once however often it is sent.
    for _ in range(2):
        await hub.call("POST", "/api/v1/orders", admin, json=order("10234", status="refunded"))
    status, contact = await hub.call("GET", f"/api/v1/contacts/{first['contact_id']}", admin)
    assert contact["membership"]["points"] == 0 and contact["purchases"]["count"] == 0
    assert await hub.db.points.count_documents({}) == 2  # earned, taken back


async def test_a_known_customer_is_found_and_an_agent_sees_their_orders_beside_the_chat(hub):
    ack = await (
        await hub.chat(
            chat_message(
                "Where is order 10235?", sender={"id": "c1", "name": "Ann", "email": "ann@example.com"}
            )
        )
    ).json()
    admin, agent = await hub.login("admin"), await hub.login("agent")
    _, stored = await hub.call("POST", "/api/v1/orders", admin, json=order("10235", email="ANN@example.com"))
    assert stored["contact_id"] == ack["contact_id"]
    status, value = await hub.call("GET", f"/api/v1/contacts/{ack['contact_id']}/value", agent)
    assert status == 200 and [o["number"] for o in value["orders"]] == ["10235"]
    assert value["membership"]["points"] == 59 and value["base_currency"] == "USD"
    # The number the NLP found in the customer's message links the conversation to the order.
    entities = [{"type": "order", "value": "10235", "text": "order 10235"}]
    await hub.db.messages.update_one({"_id": ObjectId(ack["id"])}, {"$set": {"nlp.entities": entities}})
    path = f"/api/v1/contacts/{ack['contact_id']}/value?conversation_id={ack['conversation_id']}"
    status, value = await hub.call("GET", path, agent)
    assert status == 200 and [o["id"] for o in value["mentioned"]] == [stored["id"]]
    status, found = await hub.call("GET", "/api/v1/orders?number=10235", agent)
    assert status == 200 and found["items"][0]["id"] == stored["id"]
    assert (await hub.call("POST", "/api/v1/orders", agent, json=order("1")))[0] == 403


async def test_an_api_key_with_orders_write_records_orders_and_bad_orders_change_nothing(hub):
    admin = await hub.login("admin")
    _, made = await hub.call(
        "POST", "/api/v1/api-keys", admin, json={"name": "shop", "scopes": ["orders:write"]}
    )
    key = made["key"]
    assert (await hub.call("POST", "/api/v1/orders", key, json=order("A-1")))[0] == 201
    assert (await hub.call("GET", "/api/v1/contacts", key))[0] == 403
    bad = [
        order("B-1", items=[{"name": "x", "quantity": -2, "price": "1.00"}]),
        order("B-2", currency="ZZZ"),
        order("B-3", total="-5"),
        order("B-4", total="1.001"),
        order("B-5", email=None),
        order("B-6", email="not-an-address"),
        order("B-7", placed_at=(datetime.now(UTC) + timedelta(days=30)).isoformat()),
        order("B-8", status="shipped"),
    ]
    for body in bad:
        status, answer = await hub.call("POST", "/api/v1/orders", key, json=body)
        assert status in (400, 422), (body, answer)
    assert await hub.db.orders.count_documents({}) == 1 and await hub.db.contacts.count_documents({}) == 1


async def test_a_coupon_is_redeemed_once_however_many_try_at_once(hub):
    admin, agent = await hub.login("admin"), await hub.login("agent")
    _, stored = await hub.call("POST", "/api/v1/orders", admin, json=order("C-1"))
    contact_id = stored["contact_id"]
    goodwill = {"amount": "5.00", "currency": "usd", "contact_id": contact_id}
    status, coupon = await hub.call("POST", "/api/v1/coupons", agent, json=goodwill)
    assert status == 201 and len(coupon["code"]) == 10 and coupon["currency"] == "USD"
    tries = await asyncio.gather(
        *(hub.call("POST", f"/api/v1/coupons/{coupon['code']}/redeem", admin, json={"contact_id": contact_id})
          for _ in range(5))
    )  # fmt: skip
    assert sorted(status for status, _ in tries) == [200, 409, 409, 409, 409]
    assert (await hub.db.coupons.find_one({"code": coupon["code"]}))["uses"] == 1

    _, shared = await hub.call(
        "POST", "/api/v1/coupons", admin, json={"code": "spring-10", "percent": 10, "max_uses": 5}
    )
    assert shared["code"] == "SPRING-10"
    assert (await hub.call("POST", "/api/v1/coupons", admin, json={"code": "SPRING-10", "percent": 5}))[
        0
    ] == 409
    other = str(ObjectId())
    status, _ = await hub.call(
        "POST", f"/api/v1/coupons/{coupon['code']}/redeem", admin, json={"contact_id": other}
    )
    assert status == 409
    bad = (
        {"percent": 0},
        {"percent": 120},
        {"amount": "5"},
        {"amount": "5", "percent": 5, "currency": "USD"},
        {"percent": 5, "valid_until": "2001-01-01T00:00:00Z"},
    )
    for body in bad:
        assert (await hub.call("POST", "/api/v1/coupons", admin, json=body))[0] == 422, body


async def test_staff_adjust_points_with_a_reason_never_below_zero(hub):
    admin, agent = await hub.login("admin"), await hub.login("agent")
    _, stored = await hub.call("POST", "/api/v1/orders", admin, json=order("P-1", total="10.00", items=[]))
    path = f"/api/v1/contacts/{stored['contact_id']}/points"
    status, contact = await hub.call("POST", path, agent, json={"points": 25, "reason": "late parcel"})
    assert status == 200 and contact["membership"]["points"] == 35
    status, refused = await hub.call("POST", path, agent, json={"points": -50, "reason": "typo"})
    assert status == 422 and "below zero" in refused["error"]["message"]
    ledger = await hub.db.points.find({"contact_id": ObjectId(stored["contact_id"])}).to_list(None)
    assert sorted(entry["points"] for entry in ledger) == [10, 25]


async def test_the_customer_base_ranks_its_buyers_and_admins_define_the_tiers(hub):
    admin, agent = await hub.login("admin"), await hub.login("agent")
    now = datetime.now(UTC)
    for n in range(25):  # spend and recency spread across the base
        placed = (now - timedelta(days=10 * n)).isoformat()
        body = order(
            f"R-{n}", email=f"r{n}@example.com", total=f"{(n + 1) * 10}.00", items=[], placed_at=placed
        )
        assert (await hub.call("POST", "/api/v1/orders", admin, json=body))[0] == 201
    status, outcome = await hub.call("POST", "/api/v1/customer-value/recompute", admin)
    assert status == 200 and outcome["buyers"] == 25
    config = (await hub.call("GET", "/api/v1/customer-value", agent))[1]
    assert config["cut_points"]["monetary"] == [60.0, 110.0, 160.0, 210.0]  # the quintiles of the base
    newest = await hub.db.contacts.find_one({"emails": "r0@example.com"})
    oldest = await hub.db.contacts.find_one({"emails": "r24@example.com"})
    assert newest["rfm"]["recency"] == 5 and oldest["rfm"]["recency"] == 1 and oldest["rfm"]["monetary"] == 5

    config["tiers"] = [
        {"name": "Big spenders", "name_zh": "大客户", "monetary": {"min": 5, "max": 5}},
        {"name": "Everyone", "name_zh": "其他客户"},
    ]
    assert (await hub.call("PUT", "/api/v1/customer-value", agent, json=config))[0] == 403
    status, saved = await hub.call("PUT", "/api/v1/customer-value", admin, json=config)
    assert status == 200 and [t["name"] for t in saved["tiers"]] == ["Big spenders", "Everyone"]
    big = (await hub.call("GET", "/api/v1/contacts?tier=Big%20spenders&limit=100", admin))[1]["items"]
    assert len(big) == 4  # spent more than the 80th percentile (210)
    manager = await hub.login("manager")
    _, reply = await hub.call("POST", "/api/v1/commands", manager, json={"text": "/stats tiers"})
    assert "Big spenders: 4 customers" in reply["text"] and "-> Big spenders" in reply["text"]
    config["tiers"] = [{"name": "Same", "name_zh": "同"}, {"name": "Same", "name_zh": "同"}]
    assert (await hub.call("PUT", "/api/v1/customer-value", admin, json=config))[0] == 422


async def test_merge_sums_orders_and_points_and_erasure_keeps_the_books(hub):
    admin = await hub.login("admin")
    _, one = await hub.call(
        "POST", "/api/v1/orders", admin, json=order("M-1", email="m1@example.com", items=[])
    )
    _, two = await hub.call(
        "POST", "/api/v1/orders", admin, json=order("M-2", email="m2@example.com", items=[])
    )
    status, merged = await hub.call(
        "POST", f"/api/v1/contacts/{one['contact_id']}/merge", admin, json={"other_id": two["contact_id"]}
    )
    assert status == 200, merged
    survivor = await hub.db.contacts.find_one({"_id": ObjectId(one["contact_id"])})
    assert survivor["purchases"]["count"] == 2 and survivor["membership"]["points"] == 118
    assert await hub.db.orders.count_documents({"contact_id": survivor["_id"]}) == 2

    status, _ = await hub.call(
        "POST", f"/api/v1/contacts/{one['contact_id']}/erase", admin, json={"confirm": one["contact_id"]}
    )
    assert status == 200
    kept = await hub.db.orders.find({"contact_id": survivor["_id"]}).to_list(None)
    assert len(kept) == 2 and all(o["items"] == [] for o in kept)
    assert await hub.db.points.count_documents({"contact_id": survivor["_id"]}) == 0


async def test_a_rule_raises_a_chosen_tiers_conversations_and_hands_them_to_chosen_agents(hub):
    admin = await hub.login("admin")
    vip_agent = await hub.services.users.create("vip@staff.example", "a-long-password-1", "agent", name="Vic")
    _, rules = await hub.call("GET", "/api/v1/automation/rules", admin)
    rules["tiers"] = [{"tier": "Promising", "priority": "urgent", "assignee_ids": [str(vip_agent["_id"])]}]
    status, saved = await hub.call("PUT", "/api/v1/automation/rules", admin, json=rules)
    assert status == 200, saved
    bad = rules | {"tiers": [{"tier": "Promising", "assignee_ids": ["not-an-id"]}]}
    assert (await hub.call("PUT", "/api/v1/automation/rules", admin, json=bad))[0] == 422

    sender = {"id": "t1", "name": "Tia", "email": "tia@example.com"}
    await hub.call("POST", "/api/v1/orders", admin, json=order("T-1", email="tia@example.com"))
    for text, who in (("Where is my parcel?", sender), ("Hello", {"id": "t2", "name": "Ned"})):
        ack = await (await hub.chat(chat_message(text, sender=who))).json()
        message = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
        await hub.services.automation.act(
            message, unsure_analysis("feedback"), await hub.services.rules.get()
        )
    vip, other = [await hub.db.conversations.find_one({"contact_id": c["_id"]}) async for c in
                  hub.db.contacts.find({"name": {"$in": ["Tia", "Ned"]}}).sort("name", -1)]  # fmt: skip
    assert vip["priority"] == "urgent" and vip["assignee_id"] == vip_agent["_id"]
    assert other.get("priority") is None and other.get("assignee_id") is None  # no tier, no rule


def shopify_signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(), "Content-Type": "application/json"}


async def test_shops_push_orders_through_signed_webhooks_generic_and_shopify(make_hub):
    hub = await make_hub(orders_webhook_secret="shop-secret", shopify_webhook_secret="shopify-secret")
    body = json.dumps(order("W-1")).encode()
    signed = {
        "X-Hub-Signature-256": hmac_sha256_signature("shop-secret", body),
        "Content-Type": "application/json",
    }
    status, first = await hub.call("POST", "/webhooks/orders", data=body, headers=signed)
    assert status == 201 and first["number"] == "W-1"
    status, again = await hub.call("POST", "/webhooks/orders", data=body, headers=signed)  # the shop's retry
    assert status == 200 and again["id"] == first["id"]
    forged = {"X-Hub-Signature-256": hmac_sha256_signature("guess", body), "Content-Type": "application/json"}
    assert (await hub.call("POST", "/webhooks/orders", data=body, headers=forged))[0] == 401

    # Shopify's shape (as its order webhooks send it), paid and then refunded.
    shopify = {
        "id": 5200000001, "name": "#1001", "order_number": 1001, "email": "Sam@Example.com",
        "currency": "EUR", "total_price": "42.00", "created_at": "2026-12-01T09:30:00+01:00",
        "financial_status": "paid", "fulfillment_status": None, "cancelled_at": None,
        "customer": {"first_name": "Sam", "last_name": "Shop", "email": "sam@example.com"},
        "line_items": [{"title": "Mug", "sku": "MUG-1", "quantity": 2, "price": "21.00"}],
    }  # fmt: skip
    raw = json.dumps(shopify).encode()
    status, made = await hub.call(
        "POST", "/webhooks/shopify/orders", data=raw, headers=shopify_signed("shopify-secret", raw)
    )
    assert status == 200 and made["created"] is True
    stored = await hub.db.orders.find_one({"source": "shopify", "number": "1001"})
    assert stored["status"] == "paid" and stored["currency"] == "EUR" and stored["items"][0]["sku"] == "MUG-1"
    sam = await hub.db.contacts.find_one({"_id": stored["contact_id"]})
    assert sam["name"] == "Sam Shop" and sam["emails"] == ["sam@example.com"]
    raw = json.dumps(shopify | {"financial_status": "refunded"}).encode()
    status, updated = await hub.call(
        "POST", "/webhooks/shopify/orders", data=raw, headers=shopify_signed("shopify-secret", raw)
    )
    assert status == 200 and updated["created"] is False
    assert (await hub.db.orders.find_one({"_id": stored["_id"]}))["status"] == "refunded"
    bad = shopify_signed("wrong", raw)
    assert (await hub.call("POST", "/webhooks/shopify/orders", data=raw, headers=bad))[0] == 401
    junk = b'{"name": 5}'
    assert (
        await hub.call(
            "POST", "/webhooks/shopify/orders", data=junk, headers=shopify_signed("shopify-secret", junk)
        )
    )[0] == 400
    assert await hub.db.orders.count_documents({}) == 2


async def test_a_shop_webhook_that_is_not_set_up_says_so(hub):
    assert (await hub.call("POST", "/webhooks/orders", json=order("X")))[0] == 404
