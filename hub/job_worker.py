"""Runs the job queue's jobs (crm_core.jobs) through their kinds' handlers, a few at a time,
with leases, retries and parking."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

from pymongo.errors import PyMongoError

from crm_core.jobs import Job, JobDeferred, JobFailed, JobQueue, JobStatus, RetryDelays
from crm_core.records import utcnow
from hub.background import cancel_and_wait
from hub.group_commit import GroupCommit
from hub.metrics import Metrics

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0


class JobHandler(Protocol):
    """Does the jobs of one kind. `run` raises `JobFailed` (or anything: then retried) when the
    try failed; it is told the job's stable `_id` and its `attempts` (this try's number, from 1),
    and should be idempotent: a worker that dies after the effect and before the job is marked
    done leaves it to be run again."""

    kind: ClassVar[str]
    retry_delays: ClassVar[RetryDelays]  # its own retry schedule, or None: the queue's backoff

    async def run(self, job: Job) -> Any:
        """Do the job's effect; what it returns is handed to `done`."""
        ...

    async def done(self, job: Job, outcome: Any) -> None:
        """After the queue marked the job done: record what came of it (a reply's delivery), so
        a crash in between leaves the effect done once rather than done again."""
        ...

    async def failed(self, job: Job, failure: JobFailed, *, final: bool) -> None:
        """After a failed try, once the queue knows whether the job is parked (`final`)."""
        ...


class JobWorker:
    """Runs the jobs of its handlers' kinds, `concurrency` at a time. Kinds whose jobs wait on
    receivers the hub does not control (webhooks) get a worker of their own, so a slow receiver
    never holds a reply's delivery."""

    def __init__(
        self, queue: JobQueue, metrics: Metrics, *, concurrency: int = 4, batched: bool = False
    ) -> None:
        self._queue = queue
        self._metrics = metrics
        self._concurrency = concurrency
        # Batched: one loop claims as many jobs as there are free slots and runs them at once,
        # and marks them done together (many small jobs, as webhooks are); else each of
        # `concurrency` loops claims one.
        self._batched = batched
        self._done = GroupCommit(queue.done_many)
        self.handlers: dict[str, JobHandler] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    def add(self, handlers: Iterable[JobHandler]) -> None:
        for handler in handlers:
            self.handlers[handler.kind] = handler

    def start(self) -> None:
        if self._batched:
            self._tasks = [asyncio.create_task(self._run_batches(), name="jobs-batched")]
            return
        self._tasks = [asyncio.create_task(self._run(), name=f"jobs-{i}") for i in range(self._concurrency)]

    def wake(self) -> None:
        """New work was queued: skip the idle wait."""
        self._wake.set()

    async def stop(self, timeout: float) -> None:
        """Let jobs in flight finish (bounded), then stop."""
        self._stopping = True
        self._wake.set()
        _, pending = await asyncio.wait(self._tasks, timeout=timeout) if self._tasks else ((), ())
        for task in pending:
            await cancel_and_wait(task, task.get_name())

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                job = await self._queue.claim(list(self.handlers))
                if job is None:
                    await self._idle()
                else:
                    await self._do(job)
            except PyMongoError as exc:
                log.warning("job worker cannot reach the database", extra={"error": exc.__class__.__name__})
                await self._sleep_unless_woken(1.0)

    async def _run_batches(self) -> None:
        running: set[asyncio.Task] = set()
        slot_freed = asyncio.Event()
        while not self._stopping:
            self._wake.clear()
            free = self._concurrency - len(running)
            if free <= 0:
                slot_freed.clear()
                await slot_freed.wait()
                continue
            try:
                jobs = await self._queue.claim_many(list(self.handlers), free)
            except PyMongoError as exc:
                log.warning("job worker cannot reach the database", extra={"error": exc.__class__.__name__})
                await self._sleep_unless_woken(1.0)
                continue
            for job in jobs:
                task = asyncio.create_task(self._do_reporting(job))
                running.add(task)
                task.add_done_callback(lambda done: (running.discard(done), slot_freed.set()))
            if not jobs:
                await self._idle()
        if running:
            await asyncio.wait(running)

    async def _do_reporting(self, job: Job) -> None:
        """One job of a batch: the database going away mid-job leaves it to its lease."""
        try:
            await self._do(job)
        except PyMongoError as exc:
            log.warning("job worker cannot reach the database", extra={"error": exc.__class__.__name__})

    async def _idle(self) -> None:
        due = await self._queue.next_due_at(list(self.handlers))
        wait = IDLE_SECONDS if due is None else (due - utcnow()).total_seconds()
        await self._sleep_unless_woken(min(max(wait, 0.01), IDLE_SECONDS))

    async def _sleep_unless_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _do(self, job: Job) -> None:
        kind = job["kind"]
        handler = self.handlers[kind]
        started = time.perf_counter()
        try:
            outcome = await handler.run(job)
        except JobDeferred as deferred:
            await self._queue.defer(job, deferred.seconds)
            return
        except Exception as exc:
            failure = exc if isinstance(exc, JobFailed) else _unexpected(exc, job)
            final = self._queue.final(job, failure, handler.retry_delays)
            await handler.failed(job, failure, final=final)
            status = await self._queue.failed(job, failure, handler.retry_delays)
            result = "parked" if status is JobStatus.PARKED else "retrying"
            log.info(
                "job failed",
                extra={"job_id": str(job["_id"]), "kind": kind, "error": str(failure), "next": result},
            )
        else:
            await (self._done.submit(job) if self._batched else self._queue.done(job))
            await handler.done(job, outcome)
            result = "done"
        self._metrics.jobs.labels(kind, result).inc()
        self._metrics.job_seconds.labels(kind).observe(time.perf_counter() - started)


def _unexpected(exc: Exception, job: Job) -> JobFailed:
    """A bug or a library surprise must not kill the worker or lose the job: it is retried."""
    log.exception("unexpected error in a job", extra={"job_id": str(job["_id"]), "kind": job["kind"]})
    return JobFailed(f"unexpected error: {exc.__class__.__name__}: {exc}")
