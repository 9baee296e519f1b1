"""The inbox counts: conversations per view (mine, unassigned, all) and status, without reading
every conversation each time an agent's console asks (it asks after each change it is told of).

Active conversations (open, pending, snoozed) are counted where they are: few, whatever the
history, and found through the status index. Resolved ones are most of the history, so they are
counted by difference: the started conversations per assignee, kept by this listener from the
events that change them (a conversation's first message, a new assignee), less the active ones.
A status change moves no total, so neither the ingest's reopening nor a resolution costs the
totals a write. The totals, the events this listener has not handled yet and the active
conversations are read in one snapshot: the counts are exact at once after a change."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from crm_core.conversations import STARTED
from crm_core.domain_events import Event, events_of
from crm_core.records import is_transient
from crm_core.rollups import MAX_PENDING_READ
from crm_core.vocabularies import ACTIVE_STATUSES, CONVERSATION_STATUSES

TOTALS_ID = "started_by_assignee"
UNASSIGNED = "none"  # the totals' key for conversations nobody is assigned to
VIEWS = ("mine", "unassigned", "all")
_COUNT_ATTEMPTS = 5


def _key(assignee_id: ObjectId | None) -> str:
    return UNASSIGNED if assignee_id is None else str(assignee_id)


def _moves(events: list[Event]) -> Counter[str]:
    """How events change the started conversations per assignee."""
    moves: Counter[str] = Counter()
    for event in events:
        if event["type"] == "conversation.opened":
            moves[_key(event["assignee_id"])] += 1
        elif event["type"] == "conversation.assigned" and event["started"]:
            moves[_key(event["assignee"]["from"])] -= 1
            moves[_key(event["assignee"]["to"])] += 1
    return moves


class InboxCounts:
    name = "inbox_counts"
    types = ("conversation.opened", "conversation.assigned")
    gather_seconds = 0.0  # agents' consoles read the totals; the events are rare
    # Events from before this listener existed lack what it counts: its totals are counted
    # again from the conversations (`recount`), never replayed.
    replayable = False

    def __init__(self, db: AsyncDatabase) -> None:
        self._client = db.client
        self._totals = db.inbox_totals
        self._conversations = db.conversations
        self._events = db.events

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        moves = {f"started.{key}": n for key, n in _moves(events).items() if n}
        if not moves:
            return
        result = await self._totals.update_one({"_id": TOTALS_ID}, {"$inc": moves}, session=session)
        if not result.matched_count:
            # Not counted yet (`ensure_totals` runs before any listener): hand the events back.
            raise RuntimeError("the inbox totals are not counted yet")

    async def ensure_totals(self) -> None:
        """Count the totals once, for a database that has none yet (a new one, or one from
        before them)."""
        if not await self._totals.find_one({"_id": TOTALS_ID}, {"_id": 1}):
            await self.recount()

    async def recount(self) -> dict[str, int]:
        """Count the started conversations per assignee from the conversations, and acknowledge
        in the same snapshot the events the count already includes (an event recorded after it
        is handled as usual). Another process doing the same, or acknowledging an event
        meanwhile, makes it count again. Returns the totals."""
        attempts = 0
        while True:
            try:
                async with self._client.start_session() as session, await session.start_transaction():
                    totals = _per_assignee(await self._grouped(STARTED, session))
                    await self._totals.replace_one(
                        {"_id": TOTALS_ID}, {"started": totals}, upsert=True, session=session
                    )
                    await self._events.update_many(
                        {"pending": self.name}, {"$pull": {"pending": self.name}}, session=session
                    )
                return totals
            except PyMongoError as exc:
                attempts += 1
                retry = is_transient(exc) or isinstance(exc, DuplicateKeyError)  # both upserted
                if not retry or attempts == _COUNT_ATTEMPTS:
                    raise

    async def counts(self, viewer_id: ObjectId) -> dict[str, dict[str, int]]:
        """{view: {status: conversations}} as `viewer_id` sees them."""
        async with self._client.start_session() as session, await session.start_transaction():
            active = await self._grouped({"status": {"$in": ACTIVE_STATUSES}, **STARTED}, session)
            started = await self._started(session)
            if started is None:  # not counted yet, or a backlog too long to add up here
                resolved = await self._grouped({"status": "resolved", **STARTED}, session)
            else:
                resolved = _resolved(started, active)
        views: dict[str, dict[str, int]] = {view: dict.fromkeys(CONVERSATION_STATUSES, 0) for view in VIEWS}
        for (status, assignee), n in (active | resolved).items():
            views["all"][status] += n
            if assignee == UNASSIGNED:
                views["unassigned"][status] += n
            elif assignee == str(viewer_id):
                views["mine"][status] += n
        return views

    async def _grouped(
        self, where: dict[str, Any], session: AsyncClientSession
    ) -> dict[tuple[str, str], int]:
        """{(status, assignee key): conversations} of those `where` matches."""
        pipeline = [
            {"$match": where},
            {"$group": {"_id": {"status": "$status", "assignee": "$assignee_id"}, "n": {"$sum": 1}}},
        ]
        rows = await (await self._conversations.aggregate(pipeline, session=session)).to_list(None)
        return {(row["_id"]["status"], _key(row["_id"].get("assignee"))): row["n"] for row in rows}

    async def _started(self, session: AsyncClientSession) -> Counter[str] | None:
        """Started conversations per assignee key: the totals and the events not in them yet."""
        totals = await self._totals.find_one({"_id": TOTALS_ID}, session=session)
        commits = await self._events.find({"pending": self.name}, session=session).to_list(
            MAX_PENDING_READ + 1
        )
        if totals is None or len(commits) > MAX_PENDING_READ:
            return None
        return Counter(totals["started"]) + _moves(events_of(commits, self.types))


def _resolved(started: Counter[str], active: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Resolved conversations per assignee: the started ones that are not active."""
    waiting = _per_assignee(active)
    return {("resolved", key): n - waiting[key] for key, n in started.items() if n - waiting[key]}


def _per_assignee(grouped: dict[tuple[str, str], int]) -> Counter[str]:
    """{(status, assignee key): conversations} summed per assignee key."""
    totals: Counter[str] = Counter()
    for (_, assignee), n in grouped.items():
        totals[assignee] += n
    return totals
