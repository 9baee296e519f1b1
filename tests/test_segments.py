"""Segments through the API: AND/OR filters over a contact's own fields, its value and its
dealings elsewhere (a product bought, a channel used), a live count with a preview, saved
segments and their members, and filters that name no real field refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import chat_message


async def buy(hub, admin, number: str, email: str, total: str, sku: str, days_ago: int = 1) -> None:
    body = {"number": number, "email": email, "status": "paid", "currency": "USD", "total": total,
            "placed_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
            "items": [{"name": sku.title(), "sku": sku, "quantity": 1, "price": total}]}  # fmt: skip
    assert (await hub.call("POST", "/api/v1/orders", admin, json=body))[0] == 201


async def test_a_segment_counts_and_lists_the_contacts_its_filter_holds(hub):
    admin, sales, agent = await hub.login("admin"), await hub.login("sales"), await hub.login("agent")
    await buy(hub, admin, "S-1", "big@example.com", "900.00", "TEA-GOLD")
    await buy(hub, admin, "S-2", "small@example.com", "20.00", "TEA-GREEN")
    await buy(hub, admin, "S-3", "old@example.com", "500.00", "TEA-GOLD", days_ago=400)
    await hub.chat(chat_message("Hi", sender={"id": "c9", "name": "Chatty", "email": "chatty@example.com"}))

    gold_and_recent = {"all": [
        {"field": "bought", "op": "is", "value": "TEA-GOLD"},
        {"field": "orders.last", "op": "within_days", "value": 90},
    ]}  # fmt: skip
    status, preview = await hub.call(
        "POST", "/api/v1/segments/preview", sales, json={"filter": gold_and_recent}
    )
    assert status == 200 and preview["count"] == 1 and preview["sample"][0]["emails"] == ["big@example.com"]

    either = {"any": [
        {"field": "orders.total", "op": "gte", "value": 400},
        {"all": [{"field": "channel", "op": "is", "value": "chat"},
                 {"field": "name", "op": "contains", "value": "chat"}]},
    ]}  # fmt: skip
    status, saved = await hub.call(
        "POST", "/api/v1/segments", sales, json={"name": "Worth a call", "filter": either}
    )
    assert status == 201
    status, segment = await hub.call("GET", f"/api/v1/segments/{saved['id']}", sales)
    assert status == 200 and segment["count"] == 3
    _, members = await hub.call("GET", f"/api/v1/segments/{saved['id']}/contacts", sales)
    assert sorted(m["emails"][0] for m in members["items"]) == [
        "big@example.com",
        "chatty@example.com",
        "old@example.com",
    ]
    assert (await hub.call("GET", "/api/v1/segments", agent))[0] == 403

    status, fields = await hub.call("GET", "/api/v1/segments/fields", sales)
    assert (
        status == 200
        and {"field": "tier", "kind": "choice", "ops": ["is", "is_not", "in"]} in fields["items"]
    )


async def test_a_filter_naming_no_real_field_or_a_wrong_value_is_refused(hub):
    sales = await hub.login("sales")
    bad = [
        {"all": [{"field": "shoe_size", "op": "is", "value": "9"}]},
        {"all": [{"field": "orders.total", "op": "contains", "value": "9"}]},
        {"all": [{"field": "orders.total", "op": "gte", "value": "lots"}]},
        {"all": []},
        {"none": [{"field": "name", "op": "is", "value": "x"}]},
        {"all": [{"any": [{"all": [{"any": [{"field": "name", "op": "is", "value": "x"}]}]}]}]},
        {"all": ["name"]},
        {"all": [{"field": "name", "op": "is", "value": "x", "extra": 1}]},
    ]
    for filter_ in bad:
        status, answer = await hub.call("POST", "/api/v1/segments/preview", sales, json={"filter": filter_})
        assert status == 422, (filter_, answer)
        assert (await hub.call("POST", "/api/v1/segments", sales, json={"name": "x", "filter": filter_}))[
            0
        ] == 422
    assert await hub.db.segments.count_documents({}) == 0
