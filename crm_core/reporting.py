"""Numbers for managers: one aggregation per collection per period, shared by the chat
commands, `GET /api/v1/reports/summary` and the CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.conversations import STARTED
from crm_core.rollups import NO_CHANNEL, Rollups, median, percentile, totals
from crm_core.vocabularies import ACTIVE_STATUSES

# What a report may cover: whole days in this range, at most MAX_PERIOD (the previous period of
# the same length must stay representable too).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(8998, 12, 31)
MAX_PERIOD = timedelta(days=3660)
TOP_INTENTS = 5
EXPORT_FIELDS = (
    "id", "channel", "status", "priority", "assignee_id", "contact_id", "contact_name", "contact_email",
    "subject", "labels", "last_intent", "message_count", "created_at", "first_response_at", "resolved_at",
    "first_response_seconds", "resolution_seconds",
)  # fmt: skip
# Rows per chunk of a streamed export, and per look-up of their contacts: the embedded server
# matches an `$in` in time growing with the square of its values (57 us a value at 50, 284 at 500).
EXPORT_CHUNK_ROWS = 50
# A spreadsheet runs a cell that starts like a formula, and customers choose their names and
# subjects: such text is exported with a leading apostrophe, the mark for "text, not formula".
# Every part of it is, after any list separator of a common locale (a spreadsheet set to split
# at ";" or tab may split a cell there, quotes or not). ("-" alone, the reports' "no channel",
# is no formula.)
_FORMULA_PART = re.compile(r"(^|[,;\t|])(?=[=+\-@\t\r].)", re.DOTALL)


DAILY_FIELDS = (
    "conversations_new", "conversations_resolved", "conversations_reopened", "messages_in", "messages_out",
    "tickets_opened", "tickets_breached", "leads_created", "leads_qualified", "first_response_median_s",
    "resolution_median_s",
)  # fmt: skip


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    @property
    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)


class Reports:
    def __init__(self, db: AsyncDatabase, rollups: Rollups) -> None:
        self._db = db
        self.rollups = rollups

    async def summary(self, period: Period, channel: str | None = None) -> dict[str, Any]:
        """The period's figures, each with the previous period of the same length; the number
        of conversations open now stands alone (it has no previous value)."""
        where = {"channel": channel} if channel else {}
        current, previous, still_open = await asyncio.gather(
            self.rollups.covering(period.start, period.end),
            self.rollups.covering(period.previous.start, period.previous.end),
            self._db.conversations.count_documents({**where, **STARTED, "status": {"$in": ACTIVE_STATUSES}}),
        )
        figures, before = _figures(totals(current, channel)), _figures(totals(previous, channel))
        return {
            "from": period.start,
            "to": period.end,
            "channel": channel,
            "figures": {**figures, "conversations_open": still_open},
            "previous": before,
            "change": {
                k: _change(v, before[k]) for k, v in figures.items() if k not in ("top_intents", "agents")
            },
        }

    async def times(self, period: Period) -> dict[str, dict[str, dict[str, float | None]]]:
        """Median first response and resolution in the period, by channel and by the
        conversation's latest intent ("none" when unclassified): the console's chart."""
        docs = await self.rollups.covering(period.start, period.end)
        by_channel = {
            channel: totals(docs, channel) for channel in sorted({d["channel"] for d in docs} - {NO_CHANNEL})
        }
        out: dict[str, dict[str, dict[str, float | None]]] = {
            "by_channel": {c: _times(t) for c, t in by_channel.items() if _times(t)},
            "by_intent": {
                intent: _times(t) for intent, t in totals(docs).get("by_intent", {}).items() if _times(t)
            },
        }
        return out

    async def messages_per_day(self, period: Period) -> dict[str, dict[str, int]]:
        """{channel: {YYYY-MM-DD: inbound messages}} for a chart, days in the reports' time zone."""
        days: dict[str, dict[str, int]] = {}
        for doc in await self.rollups.covering(period.start, period.end):
            if doc.get("messages_in"):
                day = doc["start"].astimezone(self.rollups.zone).date().isoformat()
                per_day = days.setdefault(doc["channel"], {})
                per_day[day] = per_day.get(day, 0) + doc["messages_in"]
        return days

    async def daily_csv(self, period: Period, channel: str | None = None) -> AsyncGenerator[str, None]:
        """The roll-ups as a spreadsheet: one row per day (in the reports' time zone) and
        channel ("-" for what belongs to no channel: leads)."""
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for doc in await self.rollups.covering(period.start, period.end):
            if channel is None or doc["channel"] in (channel, NO_CHANNEL):
                day = doc["start"].astimezone(self.rollups.zone).date().isoformat()
                groups.setdefault((day, doc["channel"]), []).append(doc)
        rows = []
        for (day, group_channel), docs in sorted(groups.items()):
            figures = _figures(totals(docs))
            rows.append({"day": day, "channel": group_channel, **{f: figures[f] for f in DAILY_FIELDS}})
        yield csv_text(("day", "channel", *DAILY_FIELDS), rows, first=True)

    async def waiting(self, older_than: datetime, limit: int = 10) -> list[dict[str, Any]]:
        """Open conversations whose customer has waited since before `older_than`, longest first."""
        return (
            await self._db.conversations.find(
                {"status": {"$in": ACTIVE_STATUSES}, "waiting_since": {"$lt": older_than}},
                {"channel": 1, "subject": 1, "waiting_since": 1, "assignee_id": 1, "last_message": 1},
            )
            .sort("waiting_since", 1)
            .to_list(limit)
        )

    async def leads(self, *, status: str | None = None, owner_id: Any = None, limit: int = 10) -> list[dict]:
        """The best-scored open leads, each with its contact's name, company and emails."""
        where: dict[str, Any] = {"open": True}
        if status:
            where["status"] = status
        if owner_id is not None:
            where["owner_id"] = owner_id
        rows = await self._db.leads.aggregate(
            [
                {"$match": where},
                {"$sort": {"score": -1, "_id": 1}},
                {"$limit": limit},
                {
                    "$lookup": {
                        "from": "contacts",
                        "localField": "contact_id",
                        "foreignField": "_id",
                        "as": "contact",
                    }
                },
                {"$set": {"contact": {"$first": "$contact"}}},
            ]
        )
        return await rows.to_list(limit)

    async def export_csv(self, period: Period, channel: str | None = None) -> AsyncGenerator[str, None]:
        """Conversations created in the period, one row each, for spreadsheets, in chunks of
        EXPORT_CHUNK_ROWS rows (the header with the first), each chunk's contacts read in one
        query (a join per row cost the embedded server a look-up each): an export of years
        starts at once and never sits whole in memory."""
        where: dict[str, Any] = {**STARTED, "created_at": {"$gte": period.start, "$lt": period.end}}
        if channel:
            where["channel"] = channel
        chunk: list[dict[str, Any]] = []
        first = True
        async with self._db.conversations.find(where, sort=[("created_at", 1)]) as cursor:
            async for conversation in cursor:
                chunk.append(conversation)
                if len(chunk) == EXPORT_CHUNK_ROWS:
                    yield await self._export_rows(chunk, first=first)
                    chunk, first = [], False
        if chunk or first:
            yield await self._export_rows(chunk, first=first)

    async def _export_rows(self, conversations: list[dict[str, Any]], *, first: bool) -> str:
        ids = list({c["contact_id"] for c in conversations})
        found = self._db.contacts.find({"_id": {"$in": ids}}, {"name": 1, "emails": 1})
        contacts = {c["_id"]: c for c in await found.to_list(None)} if ids else {}
        rows = [_export_row(c, contacts.get(c["contact_id"], {})) for c in conversations]
        return csv_text(EXPORT_FIELDS, rows, first=first)


def _export_row(row: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
    def seconds(later: str) -> float | None:
        return (row[later] - row["created_at"]).total_seconds() if row.get(later) else None

    return {
        "id": str(row["_id"]),
        "channel": row["channel"],
        "status": row.get("status"),
        "priority": row.get("priority") or "",
        "assignee_id": str(row["assignee_id"]) if row.get("assignee_id") else "",
        "contact_id": str(row["contact_id"]),
        "contact_name": contact.get("name") or "",
        "contact_email": (contact.get("emails") or [""])[0],
        "subject": row.get("subject") or "",
        "labels": " ".join(row.get("labels", [])),
        "last_intent": row.get("last_intent") or "",
        "message_count": row.get("message_count", 0),
        "created_at": row["created_at"].isoformat(),
        "first_response_at": row["first_response_at"].isoformat() if row.get("first_response_at") else "",
        "resolved_at": row["resolved_at"].isoformat()
        if row.get("resolved_at") and row.get("status") == "resolved"
        else "",
        "first_response_seconds": seconds("first_response_at") or "",
        "resolution_seconds": seconds("resolved_at") if row.get("status") == "resolved" else "",
    }


def _figures(total: dict[str, Any]) -> dict[str, Any]:
    reviewed = total.get("intents_reviewed", 0)
    intents = sorted(total.get("intents", {}).items(), key=lambda item: (-item[1], item[0]))
    agents = total.get("agents", {})
    return {
        "conversations_new": total.get("conversations_new", 0),
        "conversations_resolved": total.get("conversations_resolved", 0),
        "conversations_reopened": total.get("conversations_reopened", 0),
        "messages_in": total.get("messages_in", 0),
        "messages_out": total.get("messages_out", 0),
        "first_response_median_s": median(total.get("first_response")),
        "first_response_p90_s": percentile(total.get("first_response"), 90),
        "resolution_median_s": median(total.get("resolution")),
        "tickets_opened": total.get("tickets_opened", 0),
        "tickets_breached": total.get("tickets_breached", 0),  # SLA due times passed unmet
        "leads_created": total.get("leads_created", 0),
        "leads_qualified": total.get("leads_qualified", 0),
        "top_intents": [{"intent": i, "count": n} for i, n in intents if n > 0][:TOP_INTENTS],
        # How often agents who reviewed a message's intent agreed with the model.
        "intents_reviewed": reviewed,
        "intent_live_accuracy": round(total.get("intents_agreed", 0) / reviewed, 3) if reviewed else None,
        # Replies and resolutions per agent (by user id).
        "agents": {
            agent: {"replies": counts.get("replies", 0), "resolved": counts.get("resolved", 0)}
            for agent, counts in sorted(agents.items())
        },
    }


def _times(total: dict[str, Any]) -> dict[str, float | None]:
    found = {
        "first_response_median_s": median(total.get("first_response")),
        "resolution_median_s": median(total.get("resolution")),
    }
    return {figure: value for figure, value in found.items() if value is not None}


def _change(now: Any, before: Any) -> float | None:
    """Relative change in percent; None when either side is missing or zero before."""
    if not isinstance(now, int | float) or not isinstance(before, int | float) or before == 0:
        return None
    return round((now - before) / before * 100, 1)


def csv_text(fields: Iterable[str], rows: Iterable[dict[str, Any]], *, first: bool) -> str:
    """CSV lines for spreadsheets. The first chunk starts with the header, after a UTF-8 byte
    order mark: without it Excel reads the file in the system's code page, and Chinese or
    accented names come out garbled. Text that would start a formula is kept as text."""
    out = io.StringIO()
    # Text is always quoted: a name holding ";" stays one cell where ";" separates lists.
    writer = csv.DictWriter(out, fieldnames=list(fields), quoting=csv.QUOTE_NONNUMERIC)
    if first:
        out.write("\ufeff")
        writer.writeheader()
    for row in rows:
        writer.writerow({key: _as_text(value) for key, value in row.items()})
    return out.getvalue()


def _as_text(value: Any) -> Any:
    return _FORMULA_PART.sub(r"\1'", value) if isinstance(value, str) else value
