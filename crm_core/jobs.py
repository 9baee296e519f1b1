"""The durable job queue: work owed to the world outside the database (a reply to deliver, a
message to mirror, and next a webhook, an import, an export, a survey), written in the same
transaction as the change that owes it, and done by handlers in any hub process.

A job is `{_id, kind, payload, status, attempts, next_attempt_at, lease_until, last_error,
progress, created_at}`. Workers claim due jobs with a lease (`running`), so two processes never
run one job at once, and a job whose worker died mid-run is taken again when its lease ends.
A failure is retried with exponential backoff and jitter; after the last try the job is
`parked` with its reason, until an admin retries it. `_id` is stable across attempts (a
handler is told it and its attempt, and can be idempotent: a reply's delivery id is its job's
id); a job made by a reaction that may run again is given an `_id` of its own (`key`), so
enqueuing it twice stores it once."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.errors import Conflict, NotFound
from crm_core.records import modify_one, transaction, utcnow

Job = dict[str, Any]


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    PARKED = "parked"


def new_job(kind: str, payload: dict[str, Any], *, key: str | None = None) -> Job:
    now = utcnow()
    return {
        "_id": key if key is not None else ObjectId(),
        "kind": kind,
        "payload": payload,
        "status": JobStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "last_error": None,
        "progress": {},
        "created_at": now,
    }


# The job a reply or a staff DM is delivered by; the sender of its channel does it.
MESSAGE = "message"


def message_job(message: dict[str, Any], conversation: dict[str, Any]) -> Job:
    """The delivery of a stored outbound message through its conversation's channel."""
    job = _delivery(
        conversation["channel"],
        conversation.get("route", {}),
        message["text"],
        message_id=message["_id"],
        conversation_id=conversation["_id"],
    )
    job["payload"]["attachments"] = len(message.get("attachments", []))
    return job


def staff_dm_job(user: dict[str, Any], text: str) -> Job:
    """A direct message to a staff user on Slack: the account they linked, else the one
    with their email (the sender looks it up)."""
    staff = {"slack_user": user.get("links", {}).get("slack"), "email": user.get("email")}
    return _delivery("slack", {"staff": staff}, text)


def _delivery(
    channel: str,
    route: dict[str, Any],
    text: str,
    *,
    message_id: ObjectId | None = None,
    conversation_id: ObjectId | None = None,
) -> Job:
    payload = {
        "message_id": message_id,
        "conversation_id": conversation_id,
        "channel": channel,
        "route": route,
        "text": text,
    }
    return new_job(MESSAGE, payload)


async def enqueue(db: AsyncDatabase, job: Job, session: AsyncClientSession | None = None) -> None:
    """Store `job`, once (in the caller's transaction, when given one): a job with the `_id` of
    one stored before is that job."""
    await db.jobs.update_one({"_id": job["_id"]}, {"$setOnInsert": job}, upsert=True, session=session)


async def enqueue_many(
    db: AsyncDatabase, jobs: Sequence[Job], session: AsyncClientSession | None = None
) -> None:
    """`enqueue` for many jobs, in one round trip."""
    if jobs:
        upserts = [UpdateOne({"_id": job["_id"]}, {"$setOnInsert": job}, upsert=True) for job in jobs]
        await db.jobs.bulk_write(upserts, ordered=False, session=session)


class JobDeferred(Exception):
    """Not now, and not a failure: the job waits `seconds` without spending a try (its
    receiver is busy with others of its jobs)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"deferred {seconds:g} s")
        self.seconds = seconds


# A kind's own retry delays, in seconds, one per retry (after the first try, the second...):
# its job is parked once they are spent. None: the queue's exponential backoff and max_attempts.
RetryDelays = tuple[float, ...] | None


class JobFailed(Exception):
    """A handler's failed try: retried (`retryable`, after `retry_after` seconds when the
    other side said so) or parked at once; `progress` is kept for the next try."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after
        self.progress = progress or {}


class JobQueue:
    def __init__(
        self,
        db: AsyncDatabase,
        *,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self._col = db.jobs
        self._outbox = db.outbox  # where earlier versions kept replies to deliver
        self.max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._lease = timedelta(seconds=lease_seconds)

    async def enqueue(self, job: Job, session: AsyncClientSession | None = None) -> None:
        await enqueue(self._col.database, job, session)

    async def claim(self, kinds: Sequence[str]) -> Job | None:
        """Take a job of `kinds` whose worker died mid-lease, else the next due one (two
        look-ups: an `$or` of both is served by no index on the embedded server)."""
        now = utcnow()
        take = {
            "$set": {"status": JobStatus.RUNNING.value, "lease_until": now + self._lease},
            "$inc": {"attempts": 1},
        }
        mine = {"kind": {"$in": list(kinds)}}
        orphaned = {"status": JobStatus.RUNNING.value, "lease_until": {"$lt": now}, **mine}
        due = {"status": JobStatus.PENDING.value, "next_attempt_at": {"$lte": now}, **mine}
        return await modify_one(self._col, orphaned, take) or await modify_one(
            self._col, due, take, sort=[("next_attempt_at", 1)]
        )

    async def claim_many(self, kinds: Sequence[str], limit: int) -> list[Job]:
        """Up to `limit` jobs of `kinds` at once (orphaned first, then the due ones, oldest
        first), in a few round trips whatever their number: for kinds with many small jobs,
        where workers claiming one each would mostly race for the same one. Each write is by
        `_id` and status, which the embedded server serves from an index (an `$or` it scans)."""
        now = utcnow()
        mine = {"kind": {"$in": list(kinds)}}
        orphaned = {"status": JobStatus.RUNNING.value, "lease_until": {"$lt": now}, **mine}
        due = {"status": JobStatus.PENDING.value, "next_attempt_at": {"$lte": now}, **mine}
        token = ObjectId()
        take = {
            "$set": {"status": JobStatus.RUNNING.value, "lease_until": now + self._lease, "claim": token},
            "$inc": {"attempts": 1},
        }
        ids: list[Any] = []
        for wanted, order in ((orphaned, None), (due, "next_attempt_at")):
            if len(ids) >= limit:
                break
            found = self._col.find(wanted, {"_id": 1}).limit(limit - len(ids))
            chosen = [j["_id"] for j in await (found.sort(order, 1) if order else found).to_list(None)]
            if chosen:
                await self._col.update_many({"_id": {"$in": chosen}, **wanted}, take)
                ids += chosen
        if not ids:
            return []
        return await self._col.find({"_id": {"$in": ids}, "claim": token}).to_list(None)

    async def renew(self, job: Job) -> None:
        """A long job is still at work: its lease is extended (no other worker takes it)."""
        await self._col.update_one(
            {"_id": job["_id"], "status": JobStatus.RUNNING.value, "attempts": job["attempts"]},
            {"$set": {"lease_until": utcnow() + self._lease}},
        )

    async def next_due_at(self, kinds: Sequence[str]) -> datetime | None:
        job = await self._col.find_one(
            {"status": JobStatus.PENDING.value, "kind": {"$in": list(kinds)}},
            {"next_attempt_at": 1},
            sort=[("next_attempt_at", 1)],
        )
        return job["next_attempt_at"] if job else None

    async def done(self, job: Job) -> None:
        await self._col.update_one(
            {"_id": job["_id"], "status": JobStatus.RUNNING.value, "attempts": job["attempts"]},
            {
                "$set": {
                    "status": JobStatus.DONE.value,
                    "done_at": utcnow(),
                    "last_error": None,
                    "lease_until": None,
                }
            },
        )

    async def done_many(self, jobs: Sequence[Job]) -> list[None]:
        """`done` for many jobs (a batched worker's), in one round trip."""
        await self._col.update_many(
            {"_id": {"$in": [job["_id"] for job in jobs]}, "status": JobStatus.RUNNING.value},
            {
                "$set": {
                    "status": JobStatus.DONE.value,
                    "done_at": utcnow(),
                    "last_error": None,
                    "lease_until": None,
                }
            },
        )
        return [None] * len(jobs)

    def final(self, job: Job, failure: JobFailed, delays: RetryDelays = None) -> bool:
        """Whether this failure parks the job (no retry left, or none worth making)."""
        tries = self.max_attempts if delays is None else len(delays) + 1
        return not failure.retryable or job["attempts"] >= tries

    async def failed(self, job: Job, failure: JobFailed, delays: RetryDelays = None) -> JobStatus:
        """Schedule the next try, or park the job with the reason; returns which."""
        fields: dict[str, Any] = {"last_error": str(failure), "lease_until": None}
        fields |= {f"progress.{name}": value for name, value in failure.progress.items()}
        if self.final(job, failure, delays):
            status = JobStatus.PARKED
            fields["parked_at"] = utcnow()
        else:
            status = JobStatus.PENDING
            delay = (
                failure.retry_after
                if failure.retry_after is not None
                else self._backoff(job["attempts"], delays)
            )
            fields["next_attempt_at"] = utcnow() + timedelta(seconds=delay)
        await self._col.update_one(
            {"_id": job["_id"], "status": JobStatus.RUNNING.value, "attempts": job["attempts"]},
            {"$set": {"status": status.value, **fields}},
        )
        return status

    def _backoff(self, attempts: int, delays: RetryDelays = None) -> float:
        """The kind's delay for this retry, else exponential and capped; with jitter over its
        upper half (retries of many jobs that failed together spread out instead of arriving
        together)."""
        if delays is not None:
            ceiling = delays[min(attempts, len(delays)) - 1]
        else:
            ceiling = min(self._backoff_base * 2 ** (attempts - 1), self._backoff_cap)
        return ceiling * random.uniform(0.5, 1.0)

    async def defer(self, job: Job, seconds: float) -> None:
        """Back to pending in `seconds`, the try it was claimed with given back."""
        await self._col.update_one(
            {"_id": job["_id"], "status": JobStatus.RUNNING.value, "attempts": job["attempts"]},
            {
                "$set": {
                    "status": JobStatus.PENDING.value,
                    "lease_until": None,
                    "next_attempt_at": utcnow() + timedelta(seconds=seconds),
                },
                "$inc": {"attempts": -1},
            },
        )

    async def listed(self, *, status: str | None, kind: str | None, limit: int) -> list[Job]:
        """The newest jobs first, for an admin."""
        where = {name: value for name, value in (("status", status), ("kind", kind)) if value is not None}
        return await self._col.find(where).sort("created_at", -1).to_list(limit)

    async def retry(self, job_id: Any, audited: Audited) -> Job:
        """A parked job tried again now, from a fresh count of attempts (its progress kept),
        audited in the same transaction."""
        now = utcnow()
        again = {"status": JobStatus.PENDING.value, "attempts": 0, "next_attempt_at": now, "retried_at": now}
        parked = {"_id": job_id, "status": JobStatus.PARKED.value}
        db = self._col.database
        async with transaction(db) as session:
            job = await modify_one(self._col, parked, {"$set": again}, session=session)
            if job is not None:
                await audited.record(db, job["_id"], {"last_error": job.get("last_error")}, session)
        if job is not None:
            return job
        if await self._col.find_one({"_id": job_id}, {"_id": 1}) is None:
            raise NotFound(f"no job {job_id}")
        raise Conflict("only a parked job can be retried")

    async def adopt_outbox(self) -> int:
        """Entries an earlier version left in the `outbox` collection become message jobs
        (their ids, so deliveries keep their ids); idempotent, so a crash mid-way is harmless."""
        adopted = 0
        async for entry in self._outbox.find({"status": {"$in": ["pending", "sending"]}}):
            delivery = _delivery(
                entry["channel"],
                entry.get("route", {}),
                entry["text"],
                message_id=entry.get("message_id"),
                conversation_id=entry.get("conversation_id"),
            )
            job = delivery | {"_id": entry["_id"], "attempts": entry.get("attempts", 0)}
            job["progress"] = {"parts_sent": entry.get("parts_sent", 0)}
            await self.enqueue(job)
            await self._outbox.delete_one({"_id": entry["_id"]})
            adopted += 1
        return adopted
