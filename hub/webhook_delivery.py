"""The `webhook` job: one public event posted to one endpoint, signed per Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`), through a client whose resolver
refuses private and metadata addresses. Runs in a job worker of its own, at most
PER_ENDPOINT at a time per endpoint in this process, so a slow or dead receiver holds neither
replies nor other receivers."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from typing import Any, ClassVar

import aiohttp
from bson import ObjectId
from standardwebhooks.webhooks import Webhook

from crm_core.errors import NotFound
from crm_core.jobs import Job, JobDeferred, JobFailed, RetryDelays
from crm_core.notifications import Notifications
from crm_core.records import utcnow
from crm_core.webhooks import LOGGED_BODY_BYTES, WEBHOOK, WebhookEndpoints
from hub.group_commit import GroupCommit
from hub.metrics import Metrics
from hub.outbound_addresses import GuardedResolver, OutboundAddresses, RefusedAddress

TIMEOUT_SECONDS = 10.0
PER_ENDPOINT = 16  # deliveries in flight to one endpoint from this process
ENDPOINT_CACHE_SECONDS = 2.0  # a change to an endpoint reaches deliveries this late at most
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
        self._in_flight: Counter[ObjectId] = Counter()
        self._cache: dict[ObjectId, tuple[float, dict[str, Any] | None]] = {}
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

    async def run(self, job: Job) -> dict[str, Any]:
        payload = job["payload"]
        endpoint_id = payload["endpoint_id"]
        endpoint = await self._endpoint(endpoint_id)
        if endpoint is None or not endpoint["active"]:
            raise JobFailed("the endpoint was removed or disabled", retryable=False)
        if self._in_flight[endpoint_id] >= PER_ENDPOINT:
            raise JobDeferred(BUSY_WAIT_SECONDS)
        self._in_flight[endpoint_id] += 1
        try:
            return await self._post(job, endpoint)
        finally:
            self._in_flight[endpoint_id] -= 1

    async def _endpoint(self, endpoint_id: ObjectId) -> dict[str, Any] | None:
        """The endpoint as stored at most ENDPOINT_CACHE_SECONDS ago (None: removed): one read
        per endpoint and moment, not per delivery."""
        cached = self._cache.get(endpoint_id)
        if cached is not None and time.monotonic() - cached[0] < ENDPOINT_CACHE_SECONDS:
            return cached[1]
        try:
            endpoint = await self._endpoints.get(endpoint_id)
        except NotFound:
            endpoint = None
        self._cache[endpoint_id] = (time.monotonic(), endpoint)
        return endpoint

    async def _post(self, job: Job, endpoint: dict[str, Any]) -> dict[str, Any]:
        payload = job["payload"]
        body = json.dumps(payload["event"], separators=(",", ":"))
        now = utcnow()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "hub-webhooks/1",
            "webhook-id": payload["webhook_id"],
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": _signatures(endpoint, payload["webhook_id"], now, body),
        }
        entry: dict[str, Any] = {
            "_id": ObjectId(),
            "job_id": job["_id"],
            "webhook_id": payload["webhook_id"],
            "event_type": payload["event"]["type"],
            "event": payload["event"],
            "attempt": job["attempts"],
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
        await self._log.submit(entry | {"endpoint_id": endpoint["_id"]})
        if entry["ok"] and endpoint.get("failing_since") is not None:
            await self._endpoints.recovered(endpoint)
            self._cache.pop(endpoint["_id"], None)
        self._metrics.webhooks.labels("sent" if entry["ok"] else "failed").inc()
        if not entry["ok"]:
            await self._failing(endpoint, now)
            status = entry.get("status")
            retryable = status is None or status >= 500 or status in (408, 409, 425, 429) or status < 400
            raise JobFailed(entry.get("error") or f"receiver answered HTTP {status}", retryable=retryable)
        return entry

    async def _failing(self, endpoint: dict[str, Any], now: datetime) -> None:
        self._cache.pop(endpoint["_id"], None)  # its failing_since is read afresh next time
        if (disabled := await self._endpoints.failing(endpoint, now)) is not None:
            await self._notifications.webhook_disabled(disabled)

    async def done(self, job: Job, outcome: Any) -> None:
        return None

    async def failed(self, job: Job, failure: JobFailed, *, final: bool) -> None:
        return None


def _signatures(endpoint: dict[str, Any], webhook_id: str, at: datetime, body: str) -> str:
    """`v1,<signature>` by the secret, and by the previous one while it is still honoured after a
    rotation (Standard Webhooks: space-separated signatures; a receiver accepts any it can verify)."""
    secrets = [endpoint["secret"]]
    if endpoint.get("previous_secret") and (endpoint.get("previous_until") or at) > at:
        secrets.append(endpoint["previous_secret"])
    return " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in secrets)
