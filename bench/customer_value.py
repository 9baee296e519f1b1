"""Customer value benchmark: a hub on the embedded default with `--contacts` buyers and
`--orders` orders among them (written straight into the database, as an import of history
would leave them: each contact's purchases summed from its orders), then:

- the full re-ranking (`POST /api/v1/customer-value/recompute`): quintiles of the base, every
  buyer's scores, tier and level, tier changes recorded; twice (the second finds nothing to
  change);
- segment counts (`POST /api/v1/segments/preview`) over the whole base, a few kinds of filter;
- an order's effect on its contact: `POST /api/v1/orders` for known customers, then their
  points and tier read back at once (`GET /api/v1/contacts/{id}`), p50 and p99 of the order's
  answer and whether the effect was there on the first read.

    .venv/bin/python bench/customer_value.py [--contacts 100000] [--orders 1000000]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from bson import ObjectId
from pymongo import AsyncMongoClient

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, BENCH_DB, PASSWORD, SIGNED_IN_HUB_ENV, running_hub  # noqa: E402

BATCH = 5000
SEGMENTS = {
    "a tier (indexed)": {"all": [{"field": "tier", "op": "is", "value": "Champions"}]},
    "spend and recency": {"all": [{"field": "orders.total", "op": "gte", "value": 1000},
                                  {"field": "rfm.recency", "op": "gte", "value": 4}]},
    "two tiers or many points": {"any": [{"field": "tier", "op": "in", "value": ["At risk", "Lost"]},
                                         {"field": "membership.points", "op": "gte", "value": 5000}]},
    "bought a product": {"all": [{"field": "bought", "op": "is", "value": "SKU-7"}]},
}  # fmt: skip


async def fill(mongo_uri: str, contacts: int, orders: int) -> list[str]:
    """Contacts with orders spread over two years, their purchases summed; returns some emails."""
    db = AsyncMongoClient(mongo_uri)[BENCH_DB]
    now = datetime.now(UTC)
    rng = random.Random(7)
    ids = [ObjectId() for _ in range(contacts)]
    sums: dict[ObjectId, list] = {cid: [0, 0.0, None] for cid in ids}
    batch = []
    for n in range(orders):
        cid = ids[min(contacts - 1, int(rng.paretovariate(1.2)) - 1) if n % 3 == 0 else n % contacts]
        placed = now - timedelta(days=rng.uniform(0, 730))
        total = round(rng.uniform(5, 400), 2)
        batch.append({"_id": ObjectId(), "source": "bench", "number": f"B{n}", "contact_id": cid,
                      "status": "paid", "currency": "USD", "total": total, "total_base": total,
                      "placed_at": placed, "created_at": now, "updated_at": now,
                      "items": [{"name": f"Product {n % 50}", "sku": f"SKU-{n % 50}", "quantity": 1,
                                 "price": total}]})  # fmt: skip
        bought = sums[cid]
        bought[0] += 1
        bought[1] += total
        bought[2] = placed if bought[2] is None or placed > bought[2] else bought[2]
        if len(batch) == BATCH:
            await db.orders.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await db.orders.insert_many(batch, ordered=False)
    people = []
    for n, cid in enumerate(ids):
        count, total, last = sums[cid]
        purchases = {"count": count, "total": round(total, 2), "last_at": last} if count else None
        people.append({"_id": cid, "name": f"Buyer {n}", "emails": [f"buyer{n}@example.com"],
                       "phones": [], "identities": [], "merged_into": None, "purchases": purchases,
                       "membership": {"points": int(total)}, "created_at": now,
                       "updated_at": now})  # fmt: skip
        if len(people) == BATCH:
            await db.contacts.insert_many(people, ordered=False)
            people = []
    if people:
        await db.contacts.insert_many(people, ordered=False)
    await db.client.close()
    return [f"buyer{n}@example.com" for n in rng.sample(range(contacts), min(200, contacts))]


async def main(contacts: int, orders: int) -> None:
    async with running_hub(**SIGNED_IN_HUB_ENV) as hub, aiohttp.ClientSession() as http:
        started = time.perf_counter()
        emails = await fill(hub.mongo_uri, contacts, orders)
        print(f"{contacts} contacts and {orders} orders written in {time.perf_counter() - started:.0f} s")
        async with http.post(
            f"{hub.url}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}
        ) as resp:
            auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        for run in ("first", "again"):
            started = time.perf_counter()
            async with http.post(f"{hub.url}/api/v1/customer-value/recompute", headers=auth,
                                 timeout=aiohttp.ClientTimeout(total=3600)) as resp:  # fmt: skip
                outcome = await resp.json()
            seconds = time.perf_counter() - started
            print(f"re-ranking ({run}): {seconds:.1f} s for {outcome['buyers']} buyers, "
                  f"{outcome['tier_changes']} tier changes")  # fmt: skip
        for name, filter_ in SEGMENTS.items():
            started = time.perf_counter()
            async with http.post(
                f"{hub.url}/api/v1/segments/preview", json={"filter": filter_}, headers=auth
            ) as resp:
                count = (await resp.json())["count"]
            print(
                f"segment count, {name}: {count} contacts in {(time.perf_counter() - started) * 1000:.0f} ms"
            )
        answers, seen_at_once = [], 0
        for n, email in enumerate(emails):
            body = {"number": f"LIVE-{n}", "email": email, "status": "paid", "currency": "USD",
                    "total": "250.00", "placed_at": datetime.now(UTC).isoformat(), "items": []}  # fmt: skip
            started = time.perf_counter()
            async with http.post(f"{hub.url}/api/v1/orders", json=body, headers=auth) as resp:
                stored = await resp.json()
            answers.append(time.perf_counter() - started)
            async with http.get(f"{hub.url}/api/v1/contacts/{stored['contact_id']}", headers=auth) as resp:
                contact = await resp.json()
            seen_at_once += contact["purchases"]["last_at"] is not None and contact["tier"] is not None
        cuts = statistics.quantiles(answers, n=100)
        print(f"an order's answer: p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms; its effect "
              f"(purchase, tier) on the first read after it: {seen_at_once}/{len(emails)}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.contacts, arguments.orders))
