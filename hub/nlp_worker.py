"""Classifies inbound messages in micro-batches; automation reacts to the `message.classified`
events they record (a listener: `crm_core.automation.actions`).

Messages are claimed with leases on the message records (`nlp.status: working` with
`nlp.lease` and `nlp.lease_until`), so several hub processes never classify the same message
at once, and one that died mid-batch leaves its messages to be claimed again when the lease
expires. A classified message is `nlp.status: classified` until automation has acted on it
(then `done`, or `failed` with the error)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from crm_core.domain_events import EventLog
from crm_core.records import utcnow
from hub.background import BackgroundLoop
from hub.metrics import Metrics
from nlp.analyzer import Analyzer

log = logging.getLogger(__name__)
BATCH_SIZE = 32
BATCH_WINDOW = 0.020  # seconds a batch waits to fill once the first message is in
IDLE_SECONDS = 5.0  # look for work left by other processes or expired leases this often


class NlpWorker(BackgroundLoop):
    name = "nlp-worker"

    def __init__(
        self,
        db: AsyncDatabase,
        analyzer: Analyzer,
        metrics: Metrics,
        event_log: EventLog,
        *,
        lease_seconds: float = 60.0,
    ) -> None:
        super().__init__()
        self._messages = db.messages
        self._log = event_log
        self._analyzer = analyzer
        self._metrics = metrics
        self._lease = timedelta(seconds=lease_seconds)
        self._arrived = 0

    def notify(self) -> None:
        """A message was stored for classification."""
        self._arrived += 1
        self.wake()

    async def _run(self) -> None:
        """Stopping cancels a batch midway; it is claimed again when its lease expires."""
        while self.running:
            try:
                if await self.run_once() == 0:
                    await self._sleep(IDLE_SECONDS)
                    await self._fill_window()
            except PyMongoError as exc:
                log.warning("NLP worker cannot reach the database", extra={"error": exc.__class__.__name__})
                await self._sleep(1.0)
            except Exception:
                log.exception("NLP batch failed; its messages are retried when the lease expires")
                await self._sleep(1.0)

    async def _fill_window(self) -> None:
        """Up to 20 ms for more messages to arrive, unless a full batch is already waiting."""
        deadline = time.monotonic() + BATCH_WINDOW
        while self.running and self._arrived < BATCH_SIZE and (left := deadline - time.monotonic()) > 0:
            self._wake.clear()
            await self._sleep(left)

    async def run_once(self) -> int:
        """Claim, classify and act on one batch; returns how many messages it held."""
        self._arrived = 0
        self._wake.clear()
        batch, lease = await self._claim()
        if not batch:
            return 0
        texts = [m["text"] for m in batch]
        emails = [m.get("sender", {}).get("email") for m in batch]
        started = time.perf_counter()
        analyses = await asyncio.to_thread(self._analyzer.analyze, texts, emails)
        self._metrics.nlp_batch_seconds.observe(time.perf_counter() - started)
        done, classified = [], []
        for message, analysis in zip(batch, analyses, strict=True):
            # Automation acts on the event (a listener) and then marks the message done.
            result = {**analysis, "status": "classified", "classified_at": utcnow()}
            done.append(UpdateOne({"_id": message["_id"], "nlp.lease": lease}, {"$set": {"nlp": result}}))
            classified.append(
                self._log.about_message(
                    "message.classified",
                    message,
                    intent=analysis["intent"],
                    confidence=analysis["confidence"],
                    model=analysis["model"],
                    analysis=analysis,
                )
            )
            log.info(
                "message classified", extra={"message_id": str(message["_id"]), "intent": analysis["intent"]}
            )
        async with self._log.transaction() as session:
            await self._messages.bulk_write(done, ordered=False, session=session)
            await self._log.record(classified, session)
        for analysis in analyses:
            self._metrics.classified.labels(analysis["intent"], analysis["model"]).inc()
        return len(batch)

    async def _claim(self) -> tuple[list[dict[str, Any]], ObjectId]:
        """Up to BATCH_SIZE pending messages (or ones whose worker's lease ran out), oldest first.
        Each state is asked for on its own and every filter leads with `nlp.status`: the
        embedded server serves neither an `$or` nor `nlp.lease` alone from an index, and read
        every message ever stored, three times per batch (2.6 s at 30,000 messages)."""
        now = utcnow()
        states = (
            {"nlp.status": "pending"},
            {"nlp.status": "working", "nlp.lease_until": {"$lt": now}},
        )
        found = [
            await self._messages.find(state, {"created_at": 1}).sort("created_at", 1).to_list(BATCH_SIZE)
            for state in states
        ]
        oldest = sorted((m for messages in found for m in messages), key=lambda m: m["created_at"])
        chosen = {m["_id"] for m in oldest[:BATCH_SIZE]}
        lease = ObjectId()
        if not chosen:
            return [], lease
        claim = {"$set": {"nlp": {"status": "working", "lease": lease, "lease_until": now + self._lease}}}
        for state, messages in zip(states, found, strict=True):
            if ids := [m["_id"] for m in messages if m["_id"] in chosen]:
                # The filter repeats the state, so of two processes racing for a message
                # exactly one gets it.
                await self._messages.update_many({"_id": {"$in": ids}, **state}, claim)
        mine = {"nlp.status": "working", "nlp.lease": lease}
        return await self._messages.find(mine).sort("created_at", 1).to_list(BATCH_SIZE), lease
