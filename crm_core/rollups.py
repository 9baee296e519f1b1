"""Reporting roll-ups: counters per hour (UTC) and per day (in the reports' time zone) and
channel, kept by a listener of domain events, so that a figure counts on the day its event
happened (a resolution stays in yesterday's figures when the conversation reopens today) and a
month's summary reads a few hundred small records however many messages it covers.

Durations (first response, resolution) are kept as histograms with two significant digits
(1,234 s is counted as 1,200 s): medians and percentiles are exact to within 5%."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.domain_events import Event, events_of

# A backlog larger than this (the listener stopped for a while) is left out of reports until
# the listener catches up.
MAX_PENDING_READ = 2_000  # commit records
NO_CHANNEL = "-"  # leads belong to a contact, not to a channel
HOUR, DAY = "hour", "day"


def rounded_seconds(seconds: float) -> int:
    """Whole seconds to two significant digits (the histograms' buckets)."""
    whole = max(0, round(seconds))
    if whole < 100:
        return whole
    return int(round(whole, 2 - len(str(whole))))


def _contributions(event: Event) -> Iterator[tuple[str, datetime, dict[str, int]]]:
    """(channel, moment, {figure: increment}) for each count an event changes."""
    kind, at, channel = event["type"], event["at"], event.get("channel") or NO_CHANNEL
    if kind in ("message.received", "message.sent"):
        figures = {"messages_in" if kind == "message.received" else "messages_out": 1}
        if event.get("opens"):
            figures["conversations_new"] = 1
        if event.get("agent_id"):
            figures[f"agents.{event['agent_id']}.replies"] = 1
        if event.get("first_response_seconds") is not None:
            figures |= _duration("first_response", event["first_response_seconds"], event.get("intent"))
        yield channel, at, figures
    elif kind == "message.classified":
        yield channel, at, {f"intents.{event['intent']}": 1}
    elif kind == "message.intent_reviewed":
        yield channel, at, {"intents_reviewed": 1, "intents_agreed": int(event["agreed"])}
        if replaced := event.get("replaces"):
            # The latest review of a message is the one that counts.
            yield (
                channel,
                replaced["at"],
                {"intents_reviewed": -1, "intents_agreed": -int(replaced["agreed"])},
            )
    elif kind == "conversation.status_changed":
        status = event["status"]
        if status["to"] == "resolved":
            figures = {"conversations_resolved": 1}
            figures |= _duration("resolution", event["resolution_seconds"], event.get("intent"))
            if event.get("agent_id"):
                figures[f"agents.{event['agent_id']}.resolved"] = 1
            yield channel, at, figures
        elif status["from"] == "resolved":
            yield channel, at, {"conversations_reopened": 1}
    elif kind == "ticket.opened":
        yield channel, at, {"tickets_opened": 1}
    elif kind == "ticket.breached":
        yield channel, at, {"tickets_breached": 1}
    elif kind == "lead.created":
        yield NO_CHANNEL, at, {"leads_created": 1}
    elif kind == "lead.qualified":
        yield NO_CHANNEL, at, {"leads_qualified": 1}


def _duration(name: str, seconds: float, intent: str | None) -> dict[str, int]:
    bucket = rounded_seconds(seconds)
    return {f"{name}.{bucket}": 1, f"by_intent.{intent or 'none'}.{name}.{bucket}": 1}


class Rollups:
    """The listener that keeps the roll-ups, and their reader."""

    name = "rollups"
    gather_seconds = 0.5  # reports may trail by half a second
    types = (
        "message.received",
        "message.sent",
        "message.classified",
        "message.intent_reviewed",
        "conversation.status_changed",
        "ticket.opened",
        "ticket.breached",
        "lead.created",
        "lead.qualified",
    )

    def __init__(self, db: AsyncDatabase, timezone: str) -> None:
        self._client = db.client
        self._events = db.events
        self._col = db.rollups
        self.zone = ZoneInfo(timezone)

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        increments = self._increments(events)
        if increments:
            await self._col.bulk_write(
                [
                    UpdateOne(
                        {"_id": f"{kind}:{start:%Y-%m-%dT%H:%M}Z:{channel}"},
                        {
                            "$setOnInsert": {"kind": kind, "start": start, "channel": channel},
                            "$inc": dict(figures),
                        },
                        upsert=True,
                    )
                    for (kind, start, channel), figures in increments.items()
                ],
                ordered=False,
                session=session,
            )

    def _increments(self, events: list[Event]) -> dict[tuple[str, datetime, str], Counter[str]]:
        """{(kind, start, channel): {figure: increment}} for a batch of events."""
        increments: dict[tuple[str, datetime, str], Counter[str]] = defaultdict(Counter)
        for event in events:
            for channel, at, figures in _contributions(event):
                for bucket in self._buckets(at):
                    increments[(*bucket, channel)].update(figures)
        return increments

    async def clear(self) -> None:
        await self._col.delete_many({})

    def _buckets(self, at: datetime) -> tuple[tuple[str, datetime], tuple[str, datetime]]:
        hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return (HOUR, hour), (DAY, self._midnight(at.astimezone(self.zone).date()))

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, self.zone).astimezone(UTC)

    async def covering(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The roll-ups that make up [start, end): whole days where the period holds them,
        hours at its edges (bounds inside an hour count from that hour)."""
        first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        last = end.astimezone(UTC)
        if last.minute or last.second or last.microsecond:
            last = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        day = first.astimezone(self.zone).date()
        if self._midnight(day) < first:
            day += timedelta(days=1)
        days_from = self._midnight(day)
        days_to = days_from
        while (following := self._midnight(days_to.astimezone(self.zone).date() + timedelta(days=1))) <= last:
            days_to = following
        ranges = [(HOUR, first, last)]
        if days_to > days_from:
            ranges = [(HOUR, first, days_from), (DAY, days_from, days_to), (HOUR, days_to, last)]
        ranges = [(kind, a, b) for kind, a, b in ranges if a < b]
        # One snapshot of the roll-ups and of the events not yet in them (normally a handful,
        # from the last few milliseconds): a report includes what was just done.
        async with self._client.start_session() as session, await session.start_transaction():
            docs: list[dict[str, Any]] = []
            for kind, a, b in ranges:
                where = {"kind": kind, "start": {"$gte": a, "$lt": b}}
                docs += await self._col.find(where, session=session).to_list(None)
            commits = await self._events.find({"pending": self.name}, session=session).to_list(
                MAX_PENDING_READ
            )
        pending = events_of(commits, self.types)
        for (kind, start, channel), figures in self._increments(pending).items():
            if any(kind == k and a <= start < b for k, a, b in ranges):
                docs.append({"kind": kind, "start": start, "channel": channel, **_nested(figures)})
        return docs


def _nested(figures: Counter[str]) -> dict[str, Any]:
    """Dotted increments ("intents.billing": 1) as the stored roll-up reads them."""
    out: dict[str, Any] = {}
    for dotted, value in figures.items():
        *path, leaf = dotted.split(".")
        inner = out
        for key in path:
            inner = inner.setdefault(key, {})
        inner[leaf] = value
    return out


def totals(docs: list[dict[str, Any]], channel: str | None = None) -> dict[str, Any]:
    """The roll-ups' figures added up (only `channel`'s when given; leads and intent reviews
    always count in full, as they do not belong to one channel)."""
    out: dict[str, Any] = defaultdict(int)
    for doc in docs:
        every_channel = channel is None or doc["channel"] == channel
        for figure, value in doc.items():
            if figure in ("_id", "kind", "start", "channel"):
                continue
            if every_channel or figure.startswith(("leads_", "intents_")):
                _add(out, figure, value)
    return out


def _add(into: dict[str, Any], figure: str, value: Any) -> None:
    if isinstance(value, dict):
        inner = into.get(figure)
        if not isinstance(inner, dict):
            inner = into[figure] = {}
        for key, item in value.items():
            _add(inner, key, item)
    else:
        into[figure] = into.get(figure, 0) + value


def median(histogram: dict[str, int] | None) -> float | None:
    """The median of a histogram ({value: count}), the mean of the middle two when even."""
    values = _ordered(histogram)
    n = sum(count for _, count in values)
    if n == 0:
        return None
    if n % 2:
        return _nth(values, n // 2)
    return (_nth(values, n // 2 - 1) + _nth(values, n // 2)) / 2


def percentile(histogram: dict[str, int] | None, pct: float) -> float | None:
    """The nearest-rank percentile of a histogram."""
    values = _ordered(histogram)
    n = sum(count for _, count in values)
    if n == 0:
        return None
    return _nth(values, min(n - 1, round(pct / 100 * (n - 1))))


def _ordered(histogram: dict[str, int] | None) -> list[tuple[int, int]]:
    return sorted((int(value), count) for value, count in (histogram or {}).items() if count > 0)


def _nth(values: list[tuple[int, int]], index: int) -> int:
    for value, count in values:
        if index < count:
            return value
        index -= count
    raise IndexError(index)
