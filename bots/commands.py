"""Staff chat commands: text and the staff user in, a reply out. Used alike by Slack slash
commands, Telegram commands from linked staff and `POST /api/v1/commands`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bots.charts import messages_per_day_chart
from crm_core.customer_value import CustomerValue
from crm_core.reporting import FIRST_DAY, LAST_DAY, MAX_PERIOD, Period, Reports
from crm_core.vocabularies import MANAGERS, SALES_TEAM

HELP = """Commands:
/stats [today|yesterday|week|month|YYYY-MM-DD..YYYY-MM-DD] [channel] - conversations, messages,
  response and resolution times, tickets, leads and top intents, with the change against the
  previous period of the same length
/stats tiers - customers, orders and spend per customer tier, and the moves between tiers in the
  last 30 days
/leads [mine|new|qualified] - the best-scored leads (sales reps too)
/sla - conversations waiting longer than the first-response target
/help - this list"""
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Reply:
    text: str
    chart: bytes | None = None  # a PNG, for channels that can show images


class Commands:
    def __init__(
        self,
        reports: Reports,
        channels: Sequence[str],
        *,
        value: CustomerValue | None = None,
        base_currency: str = "USD",
        timezone: str = "UTC",
        sla_minutes: int = 60,
    ) -> None:
        self._reports = reports
        self._value = value
        self._currency = base_currency
        self._channels = channels
        self._timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._sla = timedelta(minutes=sla_minutes)

    async def handle(self, text: str, user: dict[str, Any] | None) -> Reply:
        words = (text or "").strip().split()
        command = words[0].lower().split("@")[0] if words else "/help"
        args = [w.lower() for w in words[1:]]
        if command in ("/help", "/start"):
            return Reply(HELP)
        if command not in ("/stats", "/leads", "/sla"):
            return Reply(f"I don't know {words[0]!r}.\n{HELP}")
        role = (user or {}).get("role")
        if command == "/leads" and user is not None and role in SALES_TEAM:
            return await self._leads(args, user)
        if user is None or role not in MANAGERS:
            return Reply("Sorry, numbers are for managers and admins. Ask one of them, or try /help.")
        if command == "/stats":
            return await self._stats(args)
        return await self._sla_report()

    async def _stats(self, args: list[str]) -> Reply:
        if args == ["tiers"] and self._value is not None:
            return await self._tiers()
        channel = next((a for a in args if a in self._channels), None)
        rest = [a for a in args if a != channel]
        if len(rest) > 1:
            return Reply(f"Give one period and at most one channel, e.g. /stats week email.\n{HELP}")
        try:
            label, period = self._period(rest[0] if rest else "today")
        except ValueError as exc:
            return Reply(f"{exc}\nTry /stats today, /stats week, or /stats 2026-11-01..2026-11-15.")
        summary = await self._reports.summary(period, channel)
        chart = None
        if label == "week":
            per_day = await self._reports.messages_per_day(period)
            chart = messages_per_day_chart(per_day, self._days(period))
        return Reply(_format_stats(summary, label, channel, self._timezone), chart)

    def _period(self, word: str) -> tuple[str, Period]:
        """A period the user named; ValueError (shown to them) when it is none we can count."""
        today = datetime.now(self._zone).date()
        if word in ("today", "yesterday"):
            day = today if word == "today" else today - timedelta(days=1)
            return word, self._days_period(day, day)
        if word == "week":
            return word, self._days_period(today - timedelta(days=6), today)
        if word == "month":
            return word, self._days_period(today - timedelta(days=29), today)
        if match := _RANGE.match(word):
            first, last = date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
            if last < first:
                raise ValueError("The range ends before it starts.")
            if not (first >= FIRST_DAY and last <= LAST_DAY and last - first < MAX_PERIOD):
                raise ValueError(
                    f"Give days from {FIRST_DAY} to {LAST_DAY}, at most {MAX_PERIOD.days} of them."
                )
            return f"{first}..{last}", self._days_period(first, last)
        raise ValueError(f"I don't understand the period {word!r}.")

    def _days_period(self, first: date, last: date) -> Period:
        start = datetime.combine(first, time.min, self._zone)
        end = datetime.combine(last + timedelta(days=1), time.min, self._zone)
        return Period(start, end)

    def _days(self, period: Period) -> list[str]:
        first = period.start.astimezone(self._zone).date()
        count = round((period.end - period.start) / timedelta(days=1))
        return [(first + timedelta(days=n)).isoformat() for n in range(count)]

    async def _leads(self, args: list[str], user: dict[str, Any]) -> Reply:
        which = args[0] if args else "all"
        if which not in ("all", "mine", "new", "qualified"):
            return Reply("Use /leads, /leads mine, /leads new or /leads qualified.")
        leads = await self._reports.leads(
            status=which if which in ("new", "qualified") else None,
            owner_id=user["_id"] if which == "mine" else None,
        )
        if not leads:
            return Reply("No leads to show.")
        lines = [f"{'Your' if which == 'mine' else 'Top'} leads ({which}):"]
        lines += [_lead_line(lead) for lead in leads]
        return Reply("\n".join(lines))

    async def _tiers(self) -> Reply:
        summary = (
            await self._value.tier_summary(datetime.now(self._zone) - timedelta(days=30))
            if self._value
            else {}
        )
        lines = ["Customer tiers:"]
        lines += [
            f"- {row['tier']}: {row['customers']} customers, {row['orders']} orders, "
            f"{row['spend']:,.2f} {self._currency}"
            for row in summary.get("tiers", [])
        ] or ["- no customer has bought yet"]
        moves = summary.get("moves", [])[:8]
        if moves:
            lines.append("Moves in the last 30 days:")
            lines += [f"- {m['from'] or 'new'} -> {m['to'] or 'none'}: {m['customers']}" for m in moves]
        return Reply("\n".join(lines))

    async def _sla_report(self) -> Reply:
        now = datetime.now(self._zone)
        waiting = await self._reports.waiting(now - self._sla)
        minutes = int(self._sla.total_seconds() // 60)
        if not waiting:
            return Reply(f"No conversation has waited longer than {minutes} min. Nice.")
        lines = [f"{len(waiting)} conversation(s) waiting longer than {minutes} min:"]
        for row in waiting:
            waited = _duration((now - row["waiting_since"]).total_seconds())
            preview = (row.get("last_message") or {}).get("text", "")[:60]
            lines.append(f"- [{row['channel']}] waiting {waited}: {preview}")
        return Reply("\n".join(lines))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _delta(change: float | None) -> str:
    return "" if change is None else f" ({change:+.0f}%)"


def _format_stats(summary: dict[str, Any], label: str, channel: str | None, timezone: str) -> str:
    f, c = summary["figures"], summary["change"]
    intents = ", ".join(f"{i['intent']} {i['count']}" for i in f["top_intents"]) or "none yet"
    return "\n".join(
        [
            f"Stats for {label} ({timezone}), {channel or 'all channels'}:",
            f"Conversations: {f['conversations_new']} new{_delta(c['conversations_new'])}, "
            f"{f['conversations_open']} open, {f['conversations_resolved']} resolved"
            f"{_delta(c['conversations_resolved'])}",
            f"Messages: {f['messages_in']} in{_delta(c['messages_in'])}, {f['messages_out']} out"
            f"{_delta(c['messages_out'])}",
            f"First response: median {_duration(f['first_response_median_s'])}, "
            f"p90 {_duration(f['first_response_p90_s'])}",
            f"Resolution: median {_duration(f['resolution_median_s'])}",
            f"Tickets opened: {f['tickets_opened']}, SLA breaches: {f['tickets_breached']}; "
            f"leads: {f['leads_created']} created, "
            f"{f['leads_qualified']} qualified",
            f"Top intents: {intents}",
        ]
    )


def _lead_line(lead: dict[str, Any]) -> str:
    contact = lead.get("contact") or {}
    who = contact.get("name") or next(iter(contact.get("emails") or []), None) or str(lead["_id"])
    if contact.get("company"):
        who += f" ({contact['company']})"
    evidence = ", ".join(s["evidence"] for s in lead.get("signals", [])[:4])
    return f"- {who}: score {lead['score']}, {lead['status']}" + (f" - {evidence}" if evidence else "")
