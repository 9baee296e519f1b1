"""Reports for managers, and the staff chat commands over HTTP."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from channels.base import utc_moment
from crm_core.reporting import MAX_PERIOD, Period
from crm_core.vocabularies import ALL_STAFF, MANAGERS, ApiScope
from hub.api.downloads import download_headers
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok
from hub.channel_plugins import CHANNELS

routes = RouteTable()

log = logging.getLogger(__name__)
PERIOD_PARAMS = (
    QueryParam("from", "first day (YYYY-MM-DD, in HUB_TIMEZONE) or an ISO 8601 time; default today"),
    QueryParam("to", "last day, inclusive (YYYY-MM-DD) or an exclusive ISO 8601 time; default `from`'s day"),
    QueryParam("channel", "one channel only"),
)


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)


def _bound(value: str, zone: ZoneInfo, *, end: bool) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ApiError(400, "bad_query", f"{value!r} is neither YYYY-MM-DD nor an ISO 8601 time") from exc
        return _in_range(moment if moment.tzinfo else moment.replace(tzinfo=zone))
    try:
        return _in_range(datetime.combine(day + timedelta(days=1) if end else day, time.min, zone))
    except OverflowError as exc:
        raise ApiError(400, "bad_query", f"{value!r} is out of range") from exc


def _in_range(moment: datetime) -> datetime:
    try:
        return utc_moment(moment)
    except ValueError as exc:
        raise ApiError(400, "bad_query", f"{moment.isoformat()}: {exc}") from exc


def _period(call: Call) -> tuple[Period, str | None]:
    zone = ZoneInfo(call.services.settings.timezone)
    start_text = call.query("from") or datetime.now(zone).date().isoformat()
    start = _bound(start_text, zone, end=False)
    end = _bound(call.query("to") or start_text, zone, end=True)
    if end <= start:
        raise ApiError(400, "bad_query", "`to` must come after `from`")
    if end - start > MAX_PERIOD:
        raise ApiError(400, "bad_query", f"a period covers at most {MAX_PERIOD.days} days")
    channel = call.query("channel")
    if channel is not None and channel not in CHANNELS:
        raise ApiError(400, "bad_query", f"channel: one of {', '.join(CHANNELS)}")
    return Period(start, end), channel


@routes.route("GET", "/api/v1/reports/summary", summary="Conversations, messages, response and resolution "
           "times, tickets, leads and top intents for a period, with the previous period of the same length.",
           scope=ApiScope.REPORTS_READ, tag="reports", roles=MANAGERS, query=PERIOD_PARAMS)  # fmt: skip
async def report_summary(call: Call) -> web.Response:
    period, channel = _period(call)
    return json_ok(await call.services.reports.summary(period, channel))


@routes.route("GET", "/api/v1/reports/daily", summary="Inbound messages per day and channel in a period "
           "({channel: {YYYY-MM-DD: count}}), days counted in HUB_TIMEZONE: the console's volume chart.",
           scope=ApiScope.REPORTS_READ, tag="reports", roles=MANAGERS, query=PERIOD_PARAMS)  # fmt: skip
async def report_daily(call: Call) -> web.Response:
    period, _ = _period(call)
    return json_ok({"messages_per_day": await call.services.reports.messages_per_day(period)})


@routes.route("GET", "/api/v1/reports/times", summary="Median first response and resolution in a period, "
           "by channel and by the conversation's latest intent: the console's chart.",
           scope=ApiScope.REPORTS_READ, tag="reports", roles=MANAGERS, query=PERIOD_PARAMS)  # fmt: skip
async def report_times(call: Call) -> web.Response:
    period, _ = _period(call)
    return json_ok(await call.services.reports.times(period))


@routes.route("GET", "/api/v1/reports/export.csv", summary="Conversations created in a period, as CSV.",
           scope=ApiScope.REPORTS_READ, tag="reports", roles=MANAGERS, query=PERIOD_PARAMS)  # fmt: skip
async def report_export(call: Call) -> web.StreamResponse:
    period, channel = _period(call)
    return await _csv_download(
        call, "conversations", period, call.services.reports.export_csv(period, channel)
    )


@routes.route("GET", "/api/v1/reports/daily.csv", summary="The period's figures per day and channel, "
           "as CSV (from the reporting roll-ups).",
           scope=ApiScope.REPORTS_READ, tag="reports", roles=MANAGERS,
           query=PERIOD_PARAMS)  # fmt: skip
async def report_daily_csv(call: Call) -> web.StreamResponse:
    period, channel = _period(call)
    return await _csv_download(call, "daily", period, call.services.reports.daily_csv(period, channel))


async def _csv_download(
    call: Call, what: str, period: Period, chunks: AsyncGenerator[str, None]
) -> web.StreamResponse:
    """Streamed as it is read. The first chunk is read before answering, so a database that
    cannot answer gets its usual JSON error. Once the file has begun no error can be answered:
    a failure then cuts the connection before the file's end, which the browser reports as a
    failed download, never as a shorter file that looks whole."""
    name = f"{what}-{period.start.date()}-{(period.end - timedelta(seconds=1)).date()}.csv"
    response = web.StreamResponse(headers=download_headers(name))
    response.content_type, response.charset = "text/csv", "utf-8"
    async with contextlib.aclosing(chunks):  # a client gone mid-way closes the database cursor
        first = await anext(chunks)
        await response.prepare(call.request)
        try:
            await response.write(first.encode())
            async for chunk in chunks:
                await response.write(chunk.encode())
        except Exception as exc:
            log.warning(
                "download cut short", extra={"path": call.request.path, "error": exc.__class__.__name__}
            )
            if (transport := call.request.transport) is not None:
                transport.close()
            return response
    await response.write_eof()
    return response


@routes.route("POST", "/api/v1/commands", summary='Run a staff chat command, e.g. {"text": "/stats today"}; '
           "the reply text, and a PNG chart (base64) when the command draws one.",
           tag="reports", roles=ALL_STAFF, body=CommandBody)  # fmt: skip
async def run_command(call: Call) -> web.Response:
    reply = await call.services.commands.handle(call.body.text, call.actor)
    chart = base64.b64encode(reply.chart).decode() if reply.chart else None
    return json_ok({"text": reply.text, "chart_png_base64": chart})
