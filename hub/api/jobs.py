"""The job queue for admins: what is queued, running, done or parked, and a retry for a parked job."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.jobs import JobStatus
from crm_core.vocabularies import ADMINS
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()
STATUSES = [status.value for status in JobStatus]


@routes.route("GET", "/api/v1/jobs",
              summary="The job queue, newest first: each job's kind, status, attempts, last error "
              "and what it is for (a parked job ran out of tries: see its last_error, then retry it).",
              tag="operations", roles=ADMINS,
              query=(QueryParam("status", ", ".join(STATUSES)),
                     QueryParam("kind", "message, slack.mirror, ..."),
                     QueryParam("limit", "1-100, default 25", "integer")))  # fmt: skip
async def list_jobs(call: Call) -> web.Response:
    status = call.query("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, "bad_query", f"status: one of {', '.join(STATUSES)}")
    items = await call.services.jobs.listed(status=status, kind=call.query("kind"), limit=call.limit())
    return json_ok({"items": [_public(job) for job in items]})


@routes.route("POST", "/api/v1/jobs/{id}/retry",
              summary="Try a parked job again now, from a fresh count of attempts (409 unless parked).",
              tag="operations", roles=ADMINS)  # fmt: skip
async def retry_job(call: Call) -> web.Response:
    return json_ok(_public(await call.services.parked_jobs.retry(call.path("id"), call.actor)))


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in job.items() if name != "lease_until"}
