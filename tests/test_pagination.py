"""Cursor pagination: every row exactly once, newest activity first, even with ties and writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from crm_core import search
from hub import app
from tests.conftest import chat_message, eventually


async def _page_all(hub, token, path, limit):
    seen, cursor = [], None
    while True:
        url = f"{path}{'&' if '?' in path else '?'}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await hub.call("GET", url, token)
        assert status == 200, page
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_pages_cover_every_conversation_once_with_tied_timestamps(hub):
    agent = await hub.login("agent")
    for n in range(23):
        await hub.chat(chat_message(f"message {n}", sender={"id": f"cust-{n}", "email": None}))
    # Ties on the sort key are where naive cursors skip or repeat rows.
    tie = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [c["_id"] for c in await hub.db.conversations.find({}).to_list(None)]
    await hub.db.conversations.update_many({"_id": {"$in": ids[5:15]}}, {"$set": {"last_message_at": tie}})

    # All of them (found in windows of time) and the open ones (found by their status).
    for path in ("/api/v1/conversations", "/api/v1/conversations?status=open"):
        rows = await _page_all(hub, agent, path, limit=4)
        assert len(rows) == 23 and len({r["id"] for r in rows}) == 23
        keys = [(r["last_message_at"], r["id"]) for r in rows]
        assert keys == sorted(keys, reverse=True)


async def test_new_activity_during_paging_does_not_skip_older_rows(hub):
    agent = await hub.login("agent")
    for n in range(10):
        await hub.chat(chat_message(f"hello {n}", sender={"id": f"c{n}", "email": None}))
    status, first = await hub.call("GET", "/api/v1/conversations?limit=5", agent)
    # A conversation on page one gets a new message and jumps to the top meanwhile.
    await hub.chat(chat_message("bump", sender={"id": "c7", "email": None}))
    status, second = await hub.call(
        "GET", f"/api/v1/conversations?limit=5&cursor={first['next_cursor']}", agent
    )
    assert status == 200
    seen = {r["id"] for r in first["items"]} | {r["id"] for r in second["items"]}
    assert len(seen) == 10


async def test_thread_pages_are_chronological(hub):
    agent = await hub.login("agent")
    for n in range(7):
        ack = await (await hub.chat(chat_message(f"line {n}"))).json()
    rows = await _page_all(hub, agent, f"/api/v1/conversations/{ack['conversation_id']}/messages", limit=3)
    assert [r["text"] for r in rows] == [f"line {n}" for n in range(7)]


async def test_contacts_page_through(hub):
    agent = await hub.login("agent")
    for n in range(9):
        await hub.chat(chat_message(sender={"id": f"k{n}", "email": f"k{n}@example.com"}))
    rows = await _page_all(hub, agent, "/api/v1/contacts", limit=4)
    assert sorted(r["emails"][0] for r in rows) == sorted(f"k{n}@example.com" for n in range(9))


async def test_pages_cross_hours_days_and_months_of_activity_in_order(hub):
    """A page is looked for in widening windows of time back from its start: rows on either side
    of each window's edge, and far behind all of them, each appear once and in order."""
    agent = await hub.login("agent")
    for n in range(12):
        await hub.chat(chat_message(f"spread {n}", sender={"id": f"spread-{n}", "email": None}))
    now = datetime.now(UTC)
    ages = [timedelta(minutes=5), timedelta(minutes=59), timedelta(hours=2), timedelta(hours=23),
            timedelta(days=2), timedelta(days=6), timedelta(days=8), timedelta(days=29), timedelta(days=31),
            timedelta(days=400), timedelta(days=400), timedelta(days=900)]  # fmt: skip
    conversations = await hub.db.conversations.find({}).to_list(None)
    for conversation, age in zip(conversations, ages, strict=True):
        await hub.db.conversations.update_one(
            {"_id": conversation["_id"]}, {"$set": {"last_message_at": now - age}}
        )

    for limit in (1, 2, 5):
        # Not only active ones: those are found by status, without windows.
        rows = await _page_all(hub, agent, "/api/v1/conversations?status=open,resolved", limit=limit)
        assert len({r["id"] for r in rows}) == len(rows) == 12
        keys = [(r["last_message_at"], r["id"]) for r in rows]
        assert keys == sorted(keys, reverse=True)


async def test_thread_pages_with_tied_times_show_each_message_once(hub):
    agent = await hub.login("agent")
    for n in range(7):
        ack = await (await hub.chat(chat_message(f"tied {n}"))).json()
    messages = await hub.db.messages.find({"conversation_id": ObjectId(ack["conversation_id"])}).to_list(None)
    tie = min(m["created_at"] for m in messages)
    await hub.db.messages.update_many(
        {"_id": {"$in": [m["_id"] for m in messages[1:5]]}}, {"$set": {"created_at": tie}}
    )
    rows = await _page_all(hub, agent, f"/api/v1/conversations/{ack['conversation_id']}/messages", limit=2)
    assert sorted(r["text"] for r in rows) == [f"tied {n}" for n in range(7)]
    keys = [(r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)


async def test_search_results_page_through_matches_by_message_and_by_contact(hub):
    agent = await hub.login("agent")
    for n in range(5):
        await hub.chat(chat_message(f"my parcel {n} is late", sender={"id": f"parcel-{n}", "email": None}))
    for n in range(3):
        await hub.chat(
            chat_message("hello", sender={"id": f"named-{n}", "name": f"Parcelia {n}", "email": None})
        )
    await hub.chat(chat_message("unrelated", sender={"id": "other", "email": None}))
    rows = await _page_all(hub, agent, "/api/v1/conversations?q=parcel", limit=3)
    assert len(rows) == len({r["id"] for r in rows}) == 8
    keys = [(r["last_message_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


async def test_a_search_with_more_matches_than_it_keeps_keeps_the_newest(hub, monkeypatch):
    """Past the limit a search kept the oldest matches: the newest never showed."""
    monkeypatch.setattr(search, "SEARCH_LIMIT", 10)
    agent = await hub.login("agent")
    conversations = []
    for n in range(30):
        ack = await (
            await hub.chat(chat_message(f"burst {n}", sender={"id": f"b-{n}", "email": None}))
        ).json()
        conversations.append(ack["conversation_id"])
        await hub.chat(chat_message(f"burst again {n}", sender={"id": f"b-{n}", "email": None}))
    rows = await _page_all(hub, agent, "/api/v1/conversations?q=burst", limit=4)
    assert [r["id"] for r in rows] == conversations[::-1][:10]


async def test_a_user_runs_only_so_many_searches_at_once(hub, monkeypatch):
    agent, colleague = await hub.login("agent"), await hub.login("agent")
    await hub.chat(chat_message("where is my parcel"))
    release, waiting = asyncio.Event(), []
    find_ids = search.TermSearch.find_ids

    async def slow_find_ids(self, *args, **kwargs):
        waiting.append(1)
        await release.wait()
        return await find_ids(self, *args, **kwargs)

    monkeypatch.setattr(search.TermSearch, "find_ids", slow_find_ids)
    held = [
        asyncio.create_task(hub.call("GET", "/api/v1/conversations?q=parcel", agent))
        for _ in range(app.SEARCHES_PER_USER)
    ]
    await eventually(lambda: asyncio.sleep(0, len(waiting) == app.SEARCHES_PER_USER))
    status, body = await hub.call("GET", "/api/v1/contacts?q=parcel", agent)
    assert status == 429 and body["error"]["code"] == "too_many_searches"
    status, _ = await hub.call("GET", "/api/v1/conversations?status=open", agent)  # not a search
    assert status == 200
    other = asyncio.create_task(hub.call("GET", "/api/v1/conversations?q=parcel", colleague))
    await eventually(lambda: asyncio.sleep(0, len(waiting) > app.SEARCHES_PER_USER))
    release.set()
    for task in [*held, other]:
        status, found = await task
        assert status == 200 and len(found["items"]) == 1
    status, _ = await hub.call("GET", "/api/v1/contacts?q=parcel", agent)  # the slots are free again
    assert status == 200
