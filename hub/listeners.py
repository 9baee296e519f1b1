"""Runs the listeners of domain events (`crm_core.domain_events`).

Each listener runs in its own loop, so a failing one never holds up the others. Of several
hub processes one at a time runs a given listener: it holds the listener's lease (a record
in `listeners`), renewed with every batch. A batch of events is handled and acknowledged
(the listener's name taken out of the events' `pending`) in one transaction that also checks
the lease is still ours: a process that lost its lease while stalled cannot acknowledge, its
writes are rolled back, and the new holder handles the events once. So each event's database
effect happens exactly once per listener, across crashes and processes. A listener has no
effect outside the database: what it owes the world (a Slack post, a DM) it queues as a job
(`crm_core.jobs`) in its session, so a retried batch queues the same jobs once; a loop built
with `after_commit` calls it when such a batch committed (the job worker's wake-up).

A batch that fails is retried with backoff, one event at a time, and an event that fails
MAX_ATTEMPTS times is parked (`parked` on the event, with the error) so the listener goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from crm_core.domain_events import Event, EventLog, events_of
from crm_core.records import is_transient, utcnow
from hub.background import BackgroundLoop
from hub.metrics import Metrics

log = logging.getLogger(__name__)
BATCH_SIZE = 200
IDLE_SECONDS = 2.0  # look for events other processes recorded this often
MAX_ATTEMPTS = 5
BACKOFF_CAP = 60.0


class Listener(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def types(self) -> tuple[str, ...]: ...

    @property
    def gather_seconds(self) -> float:
        """After a wake-up, how long events may gather before the loop handles them: 0 where
        someone waits on the effect; a listener nobody waits on handles fewer, larger batches,
        which spares the database a transaction per commit."""
        ...

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        """React to events, oldest first. Writes through `session` commit with the events'
        acknowledgement; raising rolls them back and the events are handed over again. Every
        write goes through `session`; an effect outside the database is a queued job."""


class LostLease(Exception):
    """Another process took the listener over: this one's batch must not count."""


class ListenerLoop(BackgroundLoop):
    def __init__(
        self,
        db: AsyncDatabase,
        listener: Listener,
        metrics: Metrics,
        *,
        lease_seconds: float = 30.0,
        backoff_base: float = 0.5,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self._after_commit = after_commit
        self.name = f"listener:{listener.name}"
        self.listener = listener
        self._db = db
        self._metrics = metrics
        self._lease = timedelta(seconds=lease_seconds)
        self._holder = ObjectId()
        self._held_until: datetime | None = None  # our lease's end, as last written by us
        self._failures = 0  # in a row, of the commit record being retried alone
        self._batch: list[dict[str, Any]] = []  # the commit records being handled
        self._alone_until: ObjectId | None = None  # retry one at a time up to this failed batch's end
        self._backoff_base = backoff_base

    async def _run(self) -> None:
        while self.running:
            # Cleared before looking, so only events committed after this look wake it again:
            # otherwise one wake-up would keep it polling the database without a pause.
            self._wake.clear()
            try:
                if not await self._keep_lead():
                    await self._sleep(self._lease.total_seconds() / 3)
                elif (handled := await self.run_once()) == 0 or (
                    handled < BATCH_SIZE and self._alone_until is None
                ):  # caught up: wait to be woken (at once if events came meanwhile)
                    await self._sleep(IDLE_SECONDS)
                    if self.running:  # a stop wakes it: no gathering then (it held every shutdown 0.5 s)
                        await asyncio.sleep(self.listener.gather_seconds)
            except LostLease:
                self._held_until = None
                log.warning("listener taken over by another process", extra={"listener": self.listener.name})
            except PyMongoError as exc:
                if not is_transient(exc):
                    await self._failed(exc)
                elif isinstance(exc, ConnectionFailure):
                    await self._sleep(1.0)
                else:  # met another listener's transaction on the same events: go again soon
                    await self._sleep(random.uniform(0.01, 0.1))
            except Exception as exc:
                await self._failed(exc)

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(PyMongoError):
            await self.release()

    async def release(self) -> None:
        """Hand the listener to another process at once rather than when the lease runs out."""
        self._held_until = None
        await self._db.listeners.update_one(
            {"_id": self.listener.name, "holder": self._holder}, {"$set": {"until": utcnow()}}
        )

    async def replay(
        self, event_log: EventLog, reset: Callable[[], Awaitable[None]] | None = None
    ) -> int | None:
        """Owe the listener every stored event of its types again and handle them all now;
        None when another process runs the listener (it handles them). With `reset` (the
        listener's state cleared first: a rebuild) the lease is taken even from a running hub,
        whose batch in flight then cannot commit."""
        if not await self.lead(force=reset is not None):
            await event_log.replay(self.listener.name, self.listener.types)
            return None
        try:
            if reset is not None:
                await reset()
            await event_log.replay(self.listener.name, self.listener.types)
            return await self.drain()
        finally:
            await self.release()

    async def _keep_lead(self) -> bool:
        """Our lease, renewed only when half of it has passed: each acknowledgement renews it
        too (fenced), so a busy listener spends no round trip on it."""
        if self._held_until is not None and utcnow() < self._held_until - self._lease / 2:
            return True
        return await self.lead()

    async def lead(self, *, force: bool = False) -> bool:
        """Take or renew this listener's lease; False while another process holds it.
        `force` takes it even then (a rebuild fences off the running hubs' batches)."""
        now = utcnow()
        claim: dict[str, Any] = {"_id": self.listener.name}
        if not force:
            claim["$or"] = [{"holder": self._holder}, {"until": {"$lt": now}}]
        try:
            held = await self._db.listeners.find_one_and_update(
                claim,
                {"$set": {"holder": self._holder, "until": now + self._lease}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
        ours = held is not None and held["holder"] == self._holder
        self._held_until = now + self._lease if ours else None
        return ours

    async def run_once(self) -> int:
        """Handle and acknowledge the oldest pending commit records; returns how many."""
        size = 1 if self._alone_until is not None else BATCH_SIZE
        commits = await self._db.events.find({"pending": self.listener.name}).sort("_id", 1).to_list(size)
        self._batch = commits
        if not commits:
            return 0
        events = events_of(commits, self.listener.types)
        async with self._db.client.start_session() as session, await session.start_transaction():
            await self.listener.handle(events, session)
            renewed_until = await self._acknowledge(commits, session)
        self._held_until = renewed_until
        self._after_commit()
        self._failures = 0
        if self._alone_until is not None and commits[-1]["_id"] >= self._alone_until:
            self._alone_until = None
        self._metrics.listener_events.labels(self.listener.name, "handled").inc(len(events))
        return len(commits)

    async def drain(self) -> int:
        """Handle every pending commit record now (as the lease holder); returns how many."""
        total = 0
        while True:
            try:
                handled = await self.run_once()
            except PyMongoError as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(0.1)  # met another writer's transaction: try again
                continue
            if handled == 0:
                return total
            total += handled

    async def _acknowledge(self, commits: list[dict[str, Any]], session: AsyncClientSession) -> datetime:
        """Take the listener's name out of the commits, renewing its lease (fenced: another
        holder aborts the transaction); returns the lease's new end."""
        until = utcnow() + self._lease
        renewed = await self._db.listeners.update_one(
            {"_id": self.listener.name, "holder": self._holder}, {"$set": {"until": until}}, session=session
        )
        if renewed.matched_count == 0:
            raise LostLease
        await self._db.events.update_many(
            {"_id": {"$in": [c["_id"] for c in commits]}},
            {"$pull": {"pending": self.listener.name}},
            session=session,
        )
        return until

    async def _failed(self, exc: BaseException) -> None:
        """A batch failed: its commits are retried one at a time, with backoff; one that
        fails MAX_ATTEMPTS times alone is parked."""
        name = self.listener.name
        self._metrics.listener_events.labels(name, "failed").inc()
        log.exception("listener failed; retrying with backoff", extra={"listener": name}, exc_info=exc)
        if len(self._batch) > 1:
            self._alone_until, self._failures = self._batch[-1]["_id"], 0
        elif self._batch:
            self._failures += 1
            if self._failures >= MAX_ATTEMPTS:
                try:
                    await self._park(self._batch[0], exc)
                    return
                except PyMongoError:
                    # The loop must outlive a database that fails while parking: try again later.
                    log.warning("could not park events", extra={"listener": name})
        await self._sleep(min(BACKOFF_CAP, self._backoff_base * 2**self._failures))

    async def _park(self, commit: dict[str, Any], exc: BaseException) -> None:
        name = self.listener.name
        error = {"listener": name, "error": f"{exc.__class__.__name__}: {exc}", "at": utcnow()}
        await self._db.events.update_one(
            {"_id": commit["_id"]}, {"$pull": {"pending": name}, "$push": {"parked": error}}
        )
        self._metrics.listener_events.labels(name, "parked").inc()
        log.error("events parked", extra={"listener": name, "commit_id": str(commit["_id"])})
        self._failures = 0
