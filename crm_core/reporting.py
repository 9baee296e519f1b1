"""Numbers for managers: one aggregation per collection per period, shared by the chat
commands, `GET /api/v1/reports/summary` and the CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.conversations import STARTED

OPEN_STATUSES = ["open", "pending", "snoozed"]
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


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    @property
    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class Reports:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def summary(self, period: Period, channel: str | None = None) -> dict[str, Any]:
        """The period's figures, each with the previous period of the same length; the number
        of conversations open now stands alone (it has no previous value)."""
        where = {"channel": channel} if channel else {}
        current, previous, still_open = await asyncio.gather(
            self._figures(period, where),
            self._figures(period.previous, where),
            self._db.conversations.count_documents({**where, **STARTED, "status": {"$in": OPEN_STATUSES}}),
        )
        return {
            "from": period.start,
            "to": period.end,
            "channel": channel,
            "figures": {**current, "conversations_open": still_open},
            "previous": previous,
            "change": {k: _change(v, previous[k]) for k, v in current.items() if k != "top_intents"},
        }

    async def _figures(self, period: Period, where: dict[str, Any]) -> dict[str, Any]:
        # One indexed query per figure, run side by side: cheaper on every server than a single
        # $or over four time fields, which no index serves.
        span = {"$gte": period.start, "$lt": period.end}
        conversations = self._db.conversations
        (
            new,
            responded,
            resolved,
            messages,
            tickets,
            leads,
            qualified,
            reviewed,
            agreed,
        ) = await asyncio.gather(
            conversations.count_documents({**where, **STARTED, "created_at": span}),
            conversations.find(
                {**where, "first_response_at": span}, {"created_at": 1, "first_response_at": 1}
            ).to_list(None),
            conversations.find(
                {**where, "resolved_at": span, "status": "resolved"}, {"created_at": 1, "resolved_at": 1}
            ).to_list(None),
            self._message_counts(span, where),
            self._db.tickets.count_documents({**where, "created_at": span}),
            self._db.leads.count_documents({"created_at": span}),
            self._db.leads.count_documents({"qualified_at": span}),
            self._db.intent_reviews.count_documents({"at": span}),
            self._db.intent_reviews.count_documents({"agreed": True, "at": span}),
        )
        first_response = [(c["first_response_at"] - c["created_at"]).total_seconds() for c in responded]
        resolution = [(c["resolved_at"] - c["created_at"]).total_seconds() for c in resolved]
        by_direction, intents = messages
        return {
            "conversations_new": new,
            "conversations_resolved": len(resolved),
            "messages_in": by_direction.get("in", 0),
            "messages_out": by_direction.get("out", 0),
            "first_response_median_s": median(first_response) if first_response else None,
            "first_response_p90_s": _percentile(first_response, 90),
            "resolution_median_s": median(resolution) if resolution else None,
            "tickets_opened": tickets,
            "leads_created": leads,
            "leads_qualified": qualified,
            "top_intents": intents,
            # How often agents who reviewed a message's intent agreed with the model.
            "intents_reviewed": reviewed,
            "intent_live_accuracy": round(agreed / reviewed, 3) if reviewed else None,
        }

    async def times(self, period: Period) -> dict[str, dict[str, dict[str, float | None]]]:
        """Median first response and resolution in the period, by channel and by the
        conversation's latest intent ("none" when unclassified): the console's chart."""
        span = {"$gte": period.start, "$lt": period.end}
        fields = {"channel": 1, "last_intent": 1, "created_at": 1, "first_response_at": 1, "resolved_at": 1}
        responded, resolved = await asyncio.gather(
            self._db.conversations.find({"first_response_at": span}, fields).to_list(None),
            self._db.conversations.find({"resolved_at": span, "status": "resolved"}, fields).to_list(None),
        )
        out: dict[str, dict[str, dict[str, list[float]]]] = {"by_channel": {}, "by_intent": {}}
        for rows, moment, figure in (
            (responded, "first_response_at", "first_response_median_s"),
            (resolved, "resolved_at", "resolution_median_s"),
        ):
            for row in rows:
                seconds = (row[moment] - row["created_at"]).total_seconds()
                for group, key in (
                    ("by_channel", row["channel"]),
                    ("by_intent", row.get("last_intent") or "none"),
                ):
                    out[group].setdefault(key, {}).setdefault(figure, []).append(seconds)
        return {
            group: {
                key: {figure: median(v) for figure, v in figures.items()} for key, figures in keys.items()
            }
            for group, keys in out.items()
        }

    async def _message_counts(self, span: dict, where: dict) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """Messages in and out (replies only: no notes or activity lines) and the top intents."""
        rows = await (
            await self._db.messages.aggregate(
                [
                    {"$match": {**where, "created_at": span, "kind": "message"}},
                    {
                        "$facet": {
                            "by_direction": [{"$group": {"_id": "$direction", "n": {"$sum": 1}}}],
                            "intents": [
                                {"$match": {"direction": "in", "nlp.intent": {"$type": "string"}}},
                                {"$group": {"_id": "$nlp.intent", "n": {"$sum": 1}}},
                                {"$sort": {"n": -1, "_id": 1}},
                                {"$limit": TOP_INTENTS},
                            ],
                        }
                    },
                ]
            )
        ).to_list(1)
        by_direction = {row["_id"]: row["n"] for row in rows[0]["by_direction"]}
        intents = [{"intent": row["_id"], "count": row["n"]} for row in rows[0]["intents"]]
        return by_direction, intents

    async def messages_per_day(self, period: Period, timezone: str) -> dict[str, dict[str, int]]:
        """{channel: {YYYY-MM-DD: inbound messages}} for a chart."""
        rows = await (
            await self._db.messages.aggregate(
                [
                    {"$match": {"created_at": {"$gte": period.start, "$lt": period.end}, "direction": "in"}},
                    {
                        "$group": {
                            "_id": {
                                "channel": "$channel",
                                "day": {
                                    "$dateToString": {
                                        "format": "%Y-%m-%d",
                                        "date": "$created_at",
                                        "timezone": timezone,
                                    }
                                },
                            },
                            "n": {"$sum": 1},
                        }
                    },
                ]
            )
        ).to_list(None)
        days: dict[str, dict[str, int]] = {}
        for row in rows:
            days.setdefault(row["_id"]["channel"], {})[row["_id"]["day"]] = row["n"]
        return days

    async def waiting(self, older_than: datetime, limit: int = 10) -> list[dict[str, Any]]:
        """Open conversations whose customer has waited since before `older_than`, longest first."""
        return (
            await self._db.conversations.find(
                {"status": {"$in": OPEN_STATUSES}, "waiting_since": {"$lt": older_than}},
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

    async def export_csv(self, period: Period, channel: str | None = None) -> str:
        """Conversations created in the period, one row each, for spreadsheets."""
        where: dict[str, Any] = {**STARTED, "created_at": {"$gte": period.start, "$lt": period.end}}
        if channel:
            where["channel"] = channel
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        cursor = self._db.conversations.aggregate(
            [
                {"$match": where},
                {"$sort": {"created_at": 1}},
                {
                    "$lookup": {
                        "from": "contacts",
                        "localField": "contact_id",
                        "foreignField": "_id",
                        "as": "contact",
                    }
                },
            ]
        )
        async for row in await cursor:
            contact = (row.get("contact") or [{}])[0]
            writer.writerow(_export_row(row, contact))
        return out.getvalue()


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


def _change(now: Any, before: Any) -> float | None:
    """Relative change in percent; None when either side is missing or zero before."""
    if not isinstance(now, int | float) or not isinstance(before, int | float) or before == 0:
        return None
    return round((now - before) / before * 100, 1)
