"""Realtime fan-out of conversation and message events to staff websockets.

With change streams (a replica set, or the embedded server) every hub process watches the
database, so an event written by any process reaches every connected agent. Without them,
events are fanned out in-process by the code that made the change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from hub.background import cancel_and_wait
from hub.jsonable import jsonable

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000
# Collection -> event prefix; inserts are "<prefix>.created", updates "<prefix>.updated".
_WATCHED = {
    "conversations": "conversation",
    "messages": "message",
    "tickets": "ticket",
    "leads": "lead",
    "deals": "deal",
    "notifications": "notification",
}
_VERBS = {"insert": "created", "update": "updated", "replace": "updated"}


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False


class Realtime:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.uses_change_streams = False
        self._task: asyncio.Task | None = None
        self._stopping = False

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def needs_publishing(self) -> bool:
        return not self.uses_change_streams

    def publish(self, event_type: str, record: dict[str, Any]) -> None:
        """Called by the services after each change; a no-op when change streams carry events."""
        if self.needs_publishing:
            self._fan_out(event_type, record)

    def broadcast(self, event_type: str, data: dict[str, Any]) -> None:
        """An event that is no database change (presence): always fanned out in-process."""
        self._fan_out(event_type, data)

    def _fan_out(self, event_type: str, record: dict[str, Any]) -> None:
        event = {"type": event_type, "data": jsonable(record)}
        for subscription in list(self._subscriptions):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A client that cannot keep up is cut off and refetches on reconnect.
                subscription.overflowed = True
                self._subscriptions.discard(subscription)
                with contextlib.suppress(asyncio.QueueFull):
                    subscription.queue.put_nowait(None)

    async def start(self, db: AsyncDatabase) -> None:
        """Open a change stream if the server has them; otherwise stay in-process."""
        try:
            stream = await self._open(db, resume_after=None)
        except OperationFailure as exc:
            log.info(
                "change streams unavailable; realtime events stay in-process", extra={"reason": str(exc)}
            )
            return
        self.uses_change_streams = True
        self._task = asyncio.create_task(self._follow(db, stream), name="realtime-change-stream")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task, "realtime-change-stream")
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
        """Fan out changes until stopped; resume after interruptions. Every turn checks the
        stopping flag: the driver may report our own cancel as a network error and go on."""
        resume_token = None
        while not self._stopping:
            try:
                async with stream:
                    async for change in stream:
                        if self._stopping:
                            return
                        resume_token = change["_id"]
                        prefix = _WATCHED.get(change["ns"]["coll"])
                        if prefix and change.get("fullDocument"):
                            self._fan_out(
                                f"{prefix}.{_VERBS[change['operationType']]}", change["fullDocument"]
                            )
            except PyMongoError as exc:
                if self._stopping:
                    return
                log.warning("change stream interrupted; resuming", extra={"error": exc.__class__.__name__})
            if (stream := await self._reopen(db, resume_token)) is None:
                return

    async def _reopen(self, db: AsyncDatabase, resume_token: Any):
        """A new stream after an interruption, or None once stopping."""
        while not self._stopping:
            await asyncio.sleep(1)
            try:
                return await self._open(db, resume_token)
            except OperationFailure:
                resume_token = None  # the token fell out of the server's history: start afresh
            except PyMongoError:
                continue
        return None
