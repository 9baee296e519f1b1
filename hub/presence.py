"""Who has which conversation open in the console, and who is typing there, across every hub
process: so two agents do not answer at once. Each conversation someone has open has one
record in `presence` (viewers by socket); the change stream carries its changes to every
process (or, without one, this process publishes them). A socket's entry is refreshed while it
lives; an entry not refreshed for STALE_SECONDS (its process died) is no longer shown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.live import LiveEvent, LivePublisher
from crm_core.records import utcnow

REFRESH_SECONDS = 30.0  # how often a live socket renews its entry
STALE_SECONDS = 3 * REFRESH_SECONDS
TYPING_SECONDS = 6.0  # a typing mark lasts this long after the last keystroke reported
KEPT_FOR = timedelta(days=1)  # a conversation's record outlives its last viewer this long


@dataclass
class _Shown:
    key: str  # the socket's entry in its conversation's record
    conversation_id: str | None
    user: dict[str, Any]


class Presence:
    def __init__(self, db: AsyncDatabase, events: LivePublisher) -> None:
        self._col = db.presence
        self._events = events
        self._sockets: dict[object, _Shown] = {}

    async def view(self, socket: object, conversation_id: str | None, user: dict[str, Any]) -> None:
        """This socket now shows `conversation_id` (None: none, or it closed)."""
        shown = self._sockets.get(socket)
        if shown is None:
            shown = self._sockets[socket] = _Shown(uuid.uuid4().hex, None, user)
        before, shown.conversation_id = shown.conversation_id, conversation_id
        if before and before != conversation_id:
            await self._write(before, {"$unset": {f"viewers.{shown.key}": ""}})
        if conversation_id:
            await self._enter(shown, typing=False)
        if conversation_id is None:
            self._sockets.pop(socket, None)

    async def typing(self, socket: object) -> None:
        """The socket's user is writing in the conversation it shows."""
        shown = self._sockets.get(socket)
        if shown is not None and shown.conversation_id:
            await self._enter(shown, typing=True)

    async def refresh(self, socket: object) -> None:
        """The socket is alive: its entry stays shown."""
        shown = self._sockets.get(socket)
        if shown is not None and shown.conversation_id:
            await self._enter(shown, typing=False)

    async def all(self) -> dict[str, list[dict[str, Any]]]:
        """Every conversation's viewers now, for a stream's first frame."""
        recent = {"updated_at": {"$gt": utcnow() - timedelta(seconds=STALE_SECONDS)}}
        return {str(record["_id"]): viewers(record) async for record in self._col.find(recent)}

    async def _enter(self, shown: _Shown, *, typing: bool) -> None:
        now = utcnow()
        entry = {"id": str(shown.user["_id"]), "name": shown.user.get("name"), "at": now}
        if typing:
            entry["typing_at"] = now
        assert shown.conversation_id is not None
        await self._write(shown.conversation_id, {"$set": {f"viewers.{shown.key}": entry}})

    async def _write(self, conversation_id: str, update: dict[str, Any]) -> None:
        now = utcnow()
        update["$set"] = {**update.get("$set", {}), "updated_at": now, "expires_at": now + KEPT_FOR}
        await self._col.update_one({"_id": conversation_id}, update, upsert=True)
        if self._events.needs_publishing:
            record = await self._col.find_one({"_id": conversation_id})
            if record is not None:
                self._events.publish(LiveEvent.PRESENCE, record)


def viewers(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A conversation's presence record (as stored, or as the realtime fan-out made it JSON)
    as the console shows it: each colleague once, whether they are typing; entries of sockets
    gone silent are left out."""
    now = utcnow()
    found: dict[str, dict[str, Any]] = {}
    for entry in (record.get("viewers") or {}).values():
        if (now - _moment(entry["at"])).total_seconds() > STALE_SECONDS:
            continue
        typing_at = entry.get("typing_at")
        typing = typing_at is not None and (now - _moment(typing_at)).total_seconds() <= TYPING_SECONDS
        seen = found.setdefault(entry["id"], {"id": entry["id"], "name": entry.get("name"), "typing": False})
        seen["typing"] = seen["typing"] or typing
    return sorted(found.values(), key=lambda viewer: viewer["id"])


def presence_event(record: dict[str, Any]) -> dict[str, Any]:
    """The stream's `presence` event for a presence record."""
    return {"conversation_id": str(record.get("_id") or record["id"]), "viewers": viewers(record)}


def _moment(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value
