"""Domain events: what changed, recorded in the `events` collection with the change itself
(in the same transaction where the change has one), for listeners to react to.

The events one write records are stored together, as one commit record (`{_id, at, events,
pending}`): a group commit of 30 inbound messages writes one record, and a listener
acknowledges it with one update. A commit names in `pending` the listeners that still owe its
events a reaction; a listener takes its name out once it has reacted (see `hub.listeners`).
Replaying events to a listener is putting its name back.

An outbox reacts inside the transaction that records the events (it queues jobs there), for
reactions that must be quick: it costs the recording write one more statement, and no
listener's batch, lease and acknowledgement."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.event_types import EVENT_TYPES, checked
from crm_core.records import utcnow

Event = dict[str, Any]


def events_of(commits: Iterable[dict[str, Any]], kinds: Iterable[str]) -> list[Event]:
    """The events of these types in commit records, in order."""
    wanted = set(kinds)
    return [event for commit in commits for event in commit["events"] if event["type"] in wanted]


class Outbox(Protocol):
    @property
    def name(self) -> str: ...

    async def queue(self, events: list[Event], session: AsyncClientSession | None) -> bool:
        """Queue the jobs these events call for, through `session`; whether it queued any."""
        ...


class EventLog:
    def __init__(
        self,
        db: AsyncDatabase,
        subscriptions: Mapping[str, Iterable[str]] | None = None,
        *,
        recorded: Callable[[Collection[str]], None] = lambda names: None,
    ) -> None:
        """`subscriptions`: each listener's name and the event types it reacts to;
        `recorded` is called with the names of the listeners that were owed events, once they
        are written (to wake those of this process's listeners, and only those)."""
        self._client = db.client
        self._events = db.events
        self._listeners_of: dict[str, list[str]] = {kind: [] for kind in EVENT_TYPES}
        for listener, kinds in (subscriptions or {}).items():
            self.subscribe(listener, kinds)
        self.recorded = recorded
        self._outboxes: list[Outbox] = []
        self._owed_in: dict[AsyncClientSession, set[str]] = {}  # per open transaction()

    def subscribe(self, listener: str, kinds: Iterable[str]) -> None:
        """From now on, events of these types are owed to `listener`."""
        for kind in kinds:
            self._listeners_of[kind].append(listener)

    def add_outbox(self, outbox: Outbox) -> None:
        """From now on, events are handed to `outbox` in the transaction that records them;
        `recorded` is told its name when it queued something."""
        self._outboxes.append(outbox)

    def new(
        self, kind: str, *, at: datetime | None = None, actor: dict[str, Any] | None = None, **data: Any
    ) -> Event:
        """An event; `data` holds the ids of what changed and the facts listeners need, checked
        against the event's class (`event_types`)."""
        event = {"_id": ObjectId(), "type": kind, "at": at or utcnow(), "actor": actor, **data}
        checked(event)
        return event

    def about_message(self, kind: str, message: dict[str, Any], **data: Any) -> Event:
        """An event about a message: its channel, conversation, contact and id, and `data`."""
        return self.new(
            kind,
            channel=message["channel"],
            conversation_id=message["conversation_id"],
            contact_id=message["contact_id"],
            message_id=message["_id"],
            **data,
        )

    async def record(self, events: list[Event], session: AsyncClientSession | None = None) -> None:
        """Write events, in `session`'s transaction when given (one of `transaction()`, which
        wakes their listeners once it commits)."""
        if not events:
            return
        listeners = sorted({name for event in events for name in self._listeners_of[event["type"]]})
        commit = {"_id": ObjectId(), "at": utcnow(), "events": events, "pending": listeners}
        await self._events.insert_one(commit, session=session)
        listeners += [outbox.name for outbox in self._outboxes if await outbox.queue(events, session)]
        if session is None:
            self.recorded(listeners)
        else:
            self._owed_in[session].update(listeners)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncClientSession]:
        """A transaction for a change and its events; their listeners are woken once it commits."""
        async with self._client.start_session() as session:
            self._owed_in[session] = set()
            try:
                async with await session.start_transaction():
                    yield session
                owed = self._owed_in[session]
            finally:
                del self._owed_in[session]
        if owed:
            self.recorded(owed)

    async def replay(self, listener: str, kinds: Iterable[str]) -> int:
        """Owe every stored event of these types to `listener` again; returns how many commits."""
        result = await self._events.update_many(
            {"events.type": {"$in": list(kinds)}}, {"$addToSet": {"pending": listener}}
        )
        self.recorded([listener])
        return result.modified_count


def staff_actor(user: dict[str, Any]) -> dict[str, Any]:
    """A staff user (or an integration's API key) as the author of a change."""
    kind = "api_key" if user.get("kind") == "api_key" else "user"
    return {"type": kind, "id": user["_id"], "email": user.get("email")}


def rule_actor(rule: str) -> dict[str, Any]:
    """An automation rule as the author of a change."""
    return {"type": "rule", "rule": rule}
