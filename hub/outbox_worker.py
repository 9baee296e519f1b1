"""Delivers outbox entries through their channel's sender, with retries and backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from pymongo.errors import PyMongoError

from channels.base import DeliveryError, OutboundMessage, ReplySender
from crm_core.outbox import Outbox
from crm_core.records import utcnow
from hub.background import cancel_and_wait
from hub.metrics import Metrics

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0


class OutboxWorker:
    def __init__(
        self, outbox: Outbox, senders: Mapping[str, ReplySender], metrics: Metrics, *, concurrency: int = 4
    ) -> None:
        self._outbox = outbox
        self._senders = senders
        self._metrics = metrics
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"outbox-{i}") for i in range(self._concurrency)]

    def wake(self) -> None:
        """New work was queued: skip the idle wait."""
        self._wake.set()

    async def stop(self, timeout: float) -> None:
        """Let deliveries in flight finish (bounded), then stop."""
        self._stopping = True
        self._wake.set()
        _, pending = await asyncio.wait(self._tasks, timeout=timeout) if self._tasks else ((), ())
        for task in pending:
            await cancel_and_wait(task, task.get_name())

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                entry = await self._outbox.claim()
                if entry is None:
                    await self._idle()
                else:
                    await self._deliver(entry)
            except PyMongoError as exc:
                log.warning(
                    "outbox worker cannot reach the database", extra={"error": exc.__class__.__name__}
                )
                await self._sleep_unless_woken(1.0)

    async def _idle(self) -> None:
        due = await self._outbox.next_due_at()
        wait = IDLE_SECONDS if due is None else (due - utcnow()).total_seconds()
        await self._sleep_unless_woken(min(max(wait, 0.01), IDLE_SECONDS))

    async def _sleep_unless_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _deliver(self, entry: dict[str, Any]) -> None:
        channel = entry["channel"]
        sender = self._senders.get(channel)
        if sender is None:
            await self._outbox.mark_failed(entry, f"channel {channel!r} is not configured", retryable=False)
            self._metrics.deliveries.labels(channel, "failed").inc()
            return
        message = OutboundMessage(
            delivery_id=str(entry["_id"]),
            channel=channel,
            route=entry["route"],
            text=entry["text"],
            message_id=_text(entry["message_id"]),
            conversation_id=_text(entry["conversation_id"]),
            parts_sent=entry.get("parts_sent", 0),
        )
        try:
            external_id = await sender.send(message)
        except Exception as exc:
            if not isinstance(exc, DeliveryError):
                # A bug or a library surprise must not kill the worker or lose the reply: retry it.
                log.exception("unexpected error while sending", extra={"outbox_id": message.delivery_id})
                exc = DeliveryError(f"unexpected error: {exc.__class__.__name__}: {exc}", retryable=True)
            status = await self._outbox.mark_failed(
                entry,
                str(exc),
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                parts_sent=exc.parts_sent,
            )
            self._metrics.deliveries.labels(channel, status).inc()
            log.info(
                "delivery failed",
                extra={
                    "outbox_id": message.delivery_id,
                    "channel": channel,
                    "error": str(exc),
                    "next": status,
                },
            )
            return
        await self._outbox.mark_sent(entry, external_id)
        self._metrics.deliveries.labels(channel, "sent").inc()


def _text(record_id: Any) -> str | None:
    return None if record_id is None else str(record_id)
