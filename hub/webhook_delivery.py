"""The `webhook` job: public events posted to one endpoint, each signed per Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`), through a client whose resolver
refuses private and metadata addresses. Runs in a job worker of its own; in this process at most
JOBS_PER_ENDPOINT of an endpoint's jobs run at once, posting at most PER_ENDPOINT requests
together, so a slow or dead receiver holds neither replies nor other receivers."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, ClassVar

import aiohttp
from bson import ObjectId
from standardwebhooks.webhooks import Webhook

from crm_core.jobs import Job, JobDeferred, JobFailed, RetryDelays
from crm_core.notifications import Notifications
from crm_core.records import utcnow
from crm_core.webhooks import LOGGED_BODY_BYTES, WEBHOOK, WebhookEndpoints
from hub.group_commit import GroupCommit
from hub.metrics import Metrics
from hub.outbound_addresses import GuardedResolver, OutboundAddresses, RefusedAddress

TIMEOUT_SECONDS = 10.0
PER_ENDPOINT = 16  # requests in flight to one endpoint from this process
JOBS_PER_ENDPOINT = 2  # an endpoint's jobs running at once in this process: more wait their turn
BUSY_WAIT_SECONDS = 0.5  # a job for an endpoint at its limit waits this long, without spending a try
# About three days of retries (Standard Webhooks' schedule, stretched), then parked.
RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0, 86400.0, 86400.0)


class WebhookDelivery:
    kind: ClassVar[str] = WEBHOOK
    retry_delays: ClassVar[RetryDelays] = RETRY_DELAYS

    def __init__(
        self,
        endpoints: WebhookEndpoints,
        addresses: OutboundAddresses,
        notifications: Notifications,
        metrics: Metrics,
    ) -> None:
        self._endpoints = endpoints
        self._addresses = addresses
        self._notifications = notifications
        self._metrics = metrics
        self._in_flight: Counter[ObjectId] = Counter()  # jobs, per endpoint
        self._requests: defaultdict[ObjectId, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(PER_ENDPOINT)
        )
        self._log = GroupCommit(endpoints.log)  # many deliveries' log entries in one write
        self._http: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._addresses), limit=100)
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def run(self, job: Job) -> list[dict[str, Any]]:
        payload = job["payload"]
        endpoint_id = payload["endpoint_id"]
        endpoint = await self._endpoints.cached(endpoint_id)
        if endpoint is None or not endpoint["active"]:
            raise JobFailed("the endpoint was removed or disabled", retryable=False)
        if self._in_flight[endpoint_id] >= JOBS_PER_ENDPOINT:
            raise JobDeferred(BUSY_WAIT_SECONDS)
        self._in_flight[endpoint_id] += 1
        try:
            return await self._deliver(job, endpoint)
        finally:
            self._in_flight[endpoint_id] -= 1

    async def _deliver(self, job: Job, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
        """Post the job's deliveries not settled by an earlier try, together; log them. Failures
        that are worth a retry fail the job, which remembers the settled ones (delivered, or
        refused for good) so its next try sends only the rest."""
        settled = set(job["progress"].get("settled", []))
        pending = [d for d in job["payload"]["deliveries"] if d["webhook_id"] not in settled]
        if not pending:
            return []
        started = utcnow()
        entries = await asyncio.gather(*(self._post(endpoint, delivery) for delivery in pending))
        logged = {"_id": ObjectId(), "endpoint_id": endpoint["_id"], "job_id": job["_id"],
                  "attempt": job["attempts"], "at": started, "deliveries": entries}  # fmt: skip
        await self._log.submit(logged)
        sent = sum(entry["ok"] for entry in entries)
        self._metrics.webhooks.labels("sent").inc(sent)
        self._metrics.webhooks.labels("failed").inc(len(entries) - sent)
        if not sent:
            await self._failing(endpoint, utcnow())
        elif endpoint.get("failing_since") is not None:  # it answers again
            await self._endpoints.recovered(endpoint)
        if sent == len(entries):
            return entries
        retry = [entry for entry in entries if not entry["ok"] and _worth_retrying(entry)]
        settled |= {entry["webhook_id"] for entry in entries if entry not in retry}
        first = next(entry for entry in entries if not entry["ok"])
        reason = first.get("error") or f"receiver answered HTTP {first['status']}"
        raise JobFailed(reason, retryable=bool(retry), progress={"settled": sorted(settled)})

    async def _post(self, endpoint: dict[str, Any], delivery: dict[str, Any]) -> dict[str, Any]:
        """One signed request; its outcome as a delivery log entry."""
        body = json.dumps(delivery["event"], separators=(",", ":"))
        async with self._requests[endpoint["_id"]]:
            now = utcnow()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "hub-webhooks/1",
                "webhook-id": delivery["webhook_id"],
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": _signatures(endpoint, delivery["webhook_id"], now, body),
            }
            entry: dict[str, Any] = {
                "_id": ObjectId(),
                "webhook_id": delivery["webhook_id"],
                "event_type": delivery["event"]["type"],
                "event": delivery["event"],
                "at": now,
            }
            try:
                self._addresses.check_url(endpoint["url"])
                async with self._client().post(endpoint["url"], data=body, headers=headers) as resp:
                    answer = (await resp.content.read(LOGGED_BODY_BYTES)).decode(errors="replace")
                    entry |= {"status": resp.status, "response": answer, "ok": resp.status < 300}
            except RefusedAddress as exc:
                entry |= {"status": None, "response": None, "ok": False, "error": str(exc)}
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                entry |= {
                    "status": None,
                    "response": None,
                    "ok": False,
                    "error": f"unreachable: {exc.__class__.__name__}",
                }
        entry["seconds"] = round((utcnow() - now).total_seconds(), 3)
        return entry

    async def _failing(self, endpoint: dict[str, Any], now: datetime) -> None:
        if (disabled := await self._endpoints.failing(endpoint, now)) is not None:
            await self._notifications.webhook_disabled(disabled)

    async def done(self, job: Job, outcome: Any) -> None:
        return None

    async def failed(self, job: Job, failure: JobFailed, *, final: bool) -> None:
        return None


def _worth_retrying(entry: dict[str, Any]) -> bool:
    """Unreachable, a server error, or an answer that asks to be tried later; a receiver that
    refused the request as such (400, 401, 404...) would refuse it again."""
    status = entry.get("status")
    return status is None or status >= 500 or status in (408, 409, 425, 429) or status < 400


def _signatures(endpoint: dict[str, Any], webhook_id: str, at: datetime, body: str) -> str:
    """`v1,<signature>` by the secret, and by the previous one while it is still honoured after a
    rotation (Standard Webhooks: space-separated signatures; a receiver accepts any it can verify)."""
    secrets = [endpoint["secret"]]
    if endpoint.get("previous_secret") and (endpoint.get("previous_until") or at) > at:
        secrets.append(endpoint["previous_secret"])
    return " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in secrets)
