"""Realtime fan-out of conversation and message events to staff and widget websockets.

With change streams (a replica set, or the embedded server) a hub process watches the database
while anyone is subscribed to it, so an event written by any process reaches every connected
agent and visitor. The stream is opened for the first subscriber and closed a while after the
last one leaves: watching costs the database work on every write (a look-up of each updated
document, and shipping it), which a hub with nobody online need not pay. Without change
streams, events are fanned out in-process by the code that made the change."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from crm_core.live import LiveEvent
from hub.background import cancel_and_wait
from hub.jsonable import jsonable

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000
# The stream outlives its last subscriber this long, so a console reload does not reopen it.
IDLE_SECONDS = 60.0
# Collection -> event prefix; inserts are "<prefix>.created", updates "<prefix>.updated".
_WATCHED = {
    "conversations": "conversation",
    "messages": "message",
    "tickets": "ticket",
    "leads": "lead",
    "deals": "deal",
    "orders": "order",
    "notifications": "notification",
    "presence": "presence",  # not a record's change: each is one LiveEvent.PRESENCE
}
_VERBS = {"insert": "created", "update": "updated", "replace": "updated"}


RealtimeEvent = dict[str, Any]  # {type, data}


def _everything(event: RealtimeEvent) -> bool:
    return True


class Subscription:
    """The events a subscriber `wants`, queued in order; None when the stream ended."""

    def __init__(self, wants: Callable[[RealtimeEvent], bool] = _everything) -> None:
        self.queue: asyncio.Queue[RealtimeEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.wants = wants


class Realtime:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.uses_change_streams = False
        self._db: AsyncDatabase | None = None
        self._task: asyncio.Task | None = None  # the follower of the open stream, if any
        self._opening = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self._stopping = False

    @contextlib.asynccontextmanager
    async def subscription(
        self, wants: Callable[[RealtimeEvent], bool] = _everything
    ) -> AsyncIterator[Subscription]:
        """The events `wants` accepts, from the moment this is entered: read state after
        entering it, and nothing falls between the read and the first event."""
        subscription = Subscription(wants)
        self._subscriptions.add(subscription)
        try:
            await self._follow_changes()
            yield subscription
        finally:
            self._forget(subscription)

    @property
    def following(self) -> bool:
        """Whether a change stream is open (or being reopened after an interruption)."""
        return self._task is not None

    def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if not self._subscriptions and self._task is not None and self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._stop_following)

    async def _follow_changes(self) -> None:
        """Open the stream unless it is open. If the database cannot be reached, the follower
        keeps trying: nothing is written meanwhile, so nothing is missed."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self.uses_change_streams or self._stopping:
            return
        db = self._db
        assert db is not None, "change streams are used once start() found them"
        async with self._opening:
            if self._task is not None and not self._task.done():
                return
            try:
                stream = await self._open(db, resume_after=None)
            except PyMongoError as exc:
                log.warning("change stream not opened; retrying", extra={"error": exc.__class__.__name__})
                stream = None
            self._task = asyncio.create_task(self._follow(db, stream), name="realtime-change-stream")

    def _stop_following(self) -> None:
        self._idle = None
        if not self._subscriptions and self._task is not None:
            task, self._task = self._task, None
            task.cancel()

    def _retired(self) -> bool:
        """Whether the calling follower should end: the hub is stopping, or the stream idled out."""
        return self._stopping or self._task is not asyncio.current_task()

    @property
    def needs_publishing(self) -> bool:
        return not self.uses_change_streams

    def publish(self, event_type: LiveEvent, record: dict[str, Any]) -> None:
        """Called by the services after each change; a no-op when change streams carry events."""
        if self.needs_publishing:
            self._fan_out(event_type, record)

    def _fan_out(self, event_type: LiveEvent, record: dict[str, Any]) -> None:
        event = {"type": event_type, "data": jsonable(record)}
        for subscription in list(self._subscriptions):
            if not subscription.wants(event):
                continue
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A client that cannot keep up is cut off and refetches on reconnect.
                self._forget(subscription)
                with contextlib.suppress(asyncio.QueueFull):
                    subscription.queue.put_nowait(None)

    async def start(self, db: AsyncDatabase) -> None:
        """Learn whether the server has change streams (else events stay in-process); the stream
        itself waits for its first subscriber."""
        try:
            stream = await self._open(db, resume_after=None)
        except OperationFailure as exc:
            log.info(
                "change streams unavailable; realtime events stay in-process", extra={"reason": str(exc)}
            )
            return
        await stream.close()
        self._db = db
        self.uses_change_streams = True

    async def stop(self) -> None:
        self._stopping = True
        if self._idle is not None:
            self._idle.cancel()
        await cancel_and_wait(self._task, "realtime-change-stream")
        self._task = None
        self.disconnect_all()

    def disconnect_all(self) -> None:
        """End every subscriber's stream (their websockets close)."""
        for subscription in list(self._subscriptions):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(None)
        self._subscriptions.clear()

    @staticmethod
    async def _open(db: AsyncDatabase, resume_after: Any):
        pipeline = [
            {
                "$match": {
                    "ns.coll": {"$in": list(_WATCHED)},
                    "operationType": {"$in": list(_VERBS)},
                }
            }
        ]
        return await db.watch(pipeline, full_document="updateLookup", resume_after=resume_after)

    async def _follow(self, db: AsyncDatabase, stream) -> None:
        """Fan out changes until retired; resume after interruptions. Every turn checks: the
        driver may report our own cancel as a network error and go on."""
        resume_token = None
        if stream is None:
            stream = await self._reopen(db, resume_token)
        while stream is not None and not self._retired():
            try:
                async with stream:
                    async for change in stream:
                        if self._retired():
                            return
                        resume_token = change["_id"]
                        prefix = _WATCHED.get(change["ns"]["coll"])
                        if prefix and change.get("fullDocument"):
                            verb = _VERBS[change["operationType"]]
                            event = (
                                LiveEvent.PRESENCE if prefix == "presence" else LiveEvent(f"{prefix}.{verb}")
                            )
                            self._fan_out(event, change["fullDocument"])
            except PyMongoError as exc:
                if self._retired():
                    return
                log.warning("change stream interrupted; resuming", extra={"error": exc.__class__.__name__})
            stream = await self._reopen(db, resume_token)

    async def _reopen(self, db: AsyncDatabase, resume_token: Any):
        """A new stream after an interruption, or None once retired. It tries every second for
        as long as it takes, saying why at the first failure and every minute after."""
        for attempt in itertools.count():
            if self._retired():
                return None
            await asyncio.sleep(1)
            try:
                return await self._open(db, resume_token)
            except OperationFailure as exc:
                resume_token = None  # the token fell out of the server's history: start afresh
                reason = exc
            except PyMongoError as exc:
                reason = exc
            if attempt % 60 == 0:
                log.warning("change stream not reopened; retrying", extra={"error": repr(reason)[:200]})
