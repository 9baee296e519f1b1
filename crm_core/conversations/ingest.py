"""Inbound messages into their conversations: the ingest hot path (keep round trips few)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError, OperationFailure

from crm_core.conversations.queries import ConversationQueries
from crm_core.conversations.shapes import (
    InboundWrite,
    NewThread,
    Stored,
    message_preview,
)
from crm_core.domain_events import Event
from crm_core.errors import NotFound
from crm_core.live import LiveEvent
from crm_core.records import (
    find_after_duplicate,
    insert_new,
    is_transient,
    modify_one,
    utcnow,
)


class ConversationIngest(ConversationQueries):
    async def thread_for_inbound(
        self,
        channel: str,
        thread_key: str,
        contact_id: ObjectId,
        *,
        route: dict[str, Any],
        subject: str | None,
        subject_key: str | None = None,
        at: datetime,
        status: str = "open",
    ) -> tuple[ObjectId, ObjectId]:
        """(conversation id, contact id) for one thread (see `threads_for_inbound`)."""
        (thread,) = await self.threads_for_inbound(
            [NewThread(channel, thread_key, contact_id, route, subject, at, subject_key, status)]
        )
        return thread

    async def threads_for_inbound(self, threads: Sequence[NewThread]) -> list[tuple[ObjectId, ObjectId]]:
        """(conversation id, contact id) for each thread, the new conversations made in one
        insert (as `Contacts.resolve_many` makes contacts). A read, then an insert, rather than
        upserts: findAndModify on a thread that exists made the embedded server scan every
        conversation (records.modify_one)."""
        wanted = {(t.channel, t.thread_key): t for t in threads}
        found = await self._by_thread_keys(list(wanted))
        new = {key: _new_conversation(thread) for key, thread in wanted.items() if key not in found}
        if new:
            stored = await insert_new(
                self._col,
                list(new.values()),
                lambda doc: self._col.find_one({"channel": doc["channel"], "thread_key": doc["thread_key"]}),
                "conversation",
            )
            found |= dict(zip(new, stored, strict=True))
        return [
            (found[key]["_id"], found[key]["contact_id"])
            for key in ((t.channel, t.thread_key) for t in threads)
        ]

    async def _by_thread_keys(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored conversations of these threads: one `$in` per channel (an `$or` across
        channels is served by no index on the embedded server)."""
        by_channel: dict[str, list[str]] = {}
        for channel, thread_key in keys:
            by_channel.setdefault(channel, []).append(thread_key)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for channel, thread_keys in by_channel.items():
            docs = self._col.find(
                {"channel": channel, "thread_key": {"$in": thread_keys}}, {"thread_key": 1, "contact_id": 1}
            )
            found |= {(channel, doc["thread_key"]): doc async for doc in docs}
        return found

    async def outbound_thread(
        self, channel: str, thread_key: str, contact_id: ObjectId, *, route: dict[str, Any], subject: str
    ) -> ObjectId:
        """A thread the hub starts (a campaign email): resolved until the customer answers."""
        conversation_id, _ = await self.thread_for_inbound(
            channel, thread_key, contact_id, route=route, subject=subject, at=utcnow(), status="resolved"
        )
        return conversation_id

    async def find_thread(
        self,
        channel: str,
        refs: tuple[str, ...],
        contact_id: ObjectId,
        subject_key: str | None,
        since: datetime,
    ) -> tuple[ObjectId, ObjectId] | None:
        """The conversation a message answers: the first of `refs` (external ids, best first)
        that names a stored message of this channel; failing that, this contact's conversation
        with the same normalised subject active since `since`."""
        if refs:
            found = await self._messages.find(
                {"channel": channel, "external_id": {"$in": list(refs)}},
                {"external_id": 1, "conversation_id": 1},
            ).to_list(len(refs))
            by_ref = {m["external_id"]: m["conversation_id"] for m in found}
            for ref in refs:
                if ref in by_ref:
                    conversation = await self._col.find_one({"_id": by_ref[ref]}, {"contact_id": 1})
                    if conversation is not None:
                        return conversation["_id"], conversation["contact_id"]
        if subject_key:
            # Equalities only, the date checked here: every server answers that from the
            # contact's conversations index (the embedded one scans for the added range).
            latest = await self._col.find_one(
                {"contact_id": contact_id, "channel": channel, "subject_key": subject_key},
                {"contact_id": 1, "last_message_at": 1},
                sort=[("last_message_at", -1)],
            )
            if latest is not None and latest["last_message_at"] >= since:
                return latest["_id"], latest["contact_id"]
        return None

    async def add_inbound(self, writes: Sequence[InboundWrite]) -> list[Stored]:
        """Store each inbound message once (dedupe on channel + external id) and count it in
        its conversation, atomically: a message and its counters commit together, so a crash
        stores neither and the channel's redelivery stores both. Redeliveries of stored
        messages are answered from one look-up, outside any transaction (after a crash they
        are most of the traffic). One transaction serves the rest of the batch; anything
        unusual in it (a contact merged meanwhile, a race with another process) aborts it, and
        the batch is redone one message at a time, so one message never fails the others."""
        stored = await self._stored_already(writes)
        firsts: dict[tuple[str, str], InboundWrite] = {}  # the first copy of each new one, in order
        for write in writes:
            if _key(write) not in stored:
                firsts.setdefault(_key(write), write)
        written: dict[tuple[str, str], Stored] = {}
        if firsts:
            try:
                conversations = await self._commit_inbound(list(firsts.values()))
                written = {key: _fresh(write) for key, write in firsts.items()}
            except (_ContactMoved, OperationFailure):
                written = {key: await self._commit_one(write) for key, write in firsts.items()}
                conversations = None
            await self._publish_inbound(
                [w for key, w in firsts.items() if not written[key].duplicate], conversations
            )
        return [self._answer(write, stored, firsts, written) for write in writes]

    @staticmethod
    def _answer(write: InboundWrite, stored: dict, firsts: dict, written: dict) -> Stored:
        key = _key(write)
        if key in stored:
            found = stored[key]
            return Stored(found["_id"], found["conversation_id"], found["contact_id"], True)
        # A second copy within the batch is a duplicate of the first.
        return written[key] if write is firsts[key] else replace(written[key], duplicate=True)

    async def _stored_already(self, writes: Sequence[InboundWrite]) -> dict[tuple[str, str], dict]:
        """The batch's messages already stored, by key. One $in on the external ids, channels
        sorted out here: an $or per channel is not served by an index on the embedded server."""
        keys = {_key(write) for write in writes}
        found = await self._messages.find(
            {"external_id": {"$in": list({external_id for _, external_id in keys})}},
            {"channel": 1, "external_id": 1, "conversation_id": 1, "contact_id": 1},
        ).to_list(None)
        return {key: m for m in found if (key := (m["channel"], m["external_id"])) in keys}

    async def _commit_inbound(self, writes: Sequence[InboundWrite]) -> dict[ObjectId, dict[str, Any]]:
        """Messages, counters and their events in one transaction; a conversation whose
        contact is no longer the one resolved (a merge meanwhile) or that is gone aborts it
        (`_ContactMoved`). Returns the conversations as they are after it. The counters are
        updated by `_id` alone, the embedded server's cheapest write; the re-read checks the
        contact inside the same transaction."""
        ids = list({w.conversation_id for w in writes})
        async with self._log.transaction() as session:
            await self._messages.insert_many([w.message for w in writes], session=session)
            await self._col.update_many({"_id": {"$in": ids}}, _counted(writes), session=session)
            fields = (
                None
                if self._events.needs_publishing
                else {"message_count": 1, "contact_id": 1, "channel": 1, "assignee_id": 1}
            )
            after = await self._col.find({"_id": {"$in": ids}}, fields, session=session).to_list(None)
            conversations = {c["_id"]: c for c in after}
            if any(
                conversations.get(w.conversation_id, {}).get("contact_id") != w.message["contact_id"]
                for w in writes
            ):
                raise _ContactMoved
            # A conversation opens with its first counted message: its count before the batch was 0.
            count_before = {i: c["message_count"] for i, c in conversations.items()}
            for write in writes:
                count_before[write.conversation_id] -= 1
            events = []
            for write in writes:
                opens = count_before[write.conversation_id] == 0
                count_before[write.conversation_id] += 1
                events.append(self._received(write.message, opens=opens))
                if opens:
                    events.append(self._opened(conversations[write.conversation_id]))
            await self._log.record(events, session)
        return conversations

    async def _commit_one(self, write: InboundWrite, attempts: int = 3) -> Stored:
        """One message alone, retried while its transaction meets another's writes."""
        for _ in range(attempts - 1):
            try:
                return await self._commit_alone(write)
            except OperationFailure as exc:
                if not is_transient(exc):
                    raise
        return await self._commit_alone(write)

    async def _commit_alone(self, write: InboundWrite) -> Stored:
        """Its conversation's current contact (after a merge) is followed; a redelivery of a
        stored message answers the stored one."""
        message = write.message
        try:
            async with self._log.transaction() as session:
                conversation = await modify_one(
                    self._col, {"_id": write.conversation_id}, _counted([write]), before=True, session=session
                )
                if conversation is None:
                    raise NotFound(f"conversation {write.conversation_id} not found")
                message["contact_id"] = message["sender"]["id"] = conversation["contact_id"]
                await self._messages.insert_one(message, session=session)
                opens = conversation["message_count"] == 0
                events = [
                    self._received(message, opens=opens),
                    *([self._opened(conversation)] if opens else []),
                ]
                await self._log.record(events, session)
        except DuplicateKeyError:
            found = await find_after_duplicate(
                lambda: self._messages.find_one(
                    {"channel": message["channel"], "external_id": message["external_id"]},
                    {"conversation_id": 1, "contact_id": 1},
                ),
                "message",
            )
            return Stored(found["_id"], found["conversation_id"], found["contact_id"], True)
        return _fresh(write)

    def _received(self, message: dict[str, Any], *, opens: bool) -> Event:
        return self._log.about_message("message.received", message, at=message["created_at"], opens=opens)

    async def _publish_inbound(
        self, writes: Sequence[InboundWrite], conversations: dict[ObjectId, dict[str, Any]] | None
    ) -> None:
        """Without change streams, tell realtime listeners what the batch changed."""
        if not writes or not self._events.needs_publishing:
            return
        if conversations is None:
            ids = list({w.conversation_id for w in writes})
            conversations = {c["_id"]: c for c in await self._col.find({"_id": {"$in": ids}}).to_list(None)}
        added: dict[ObjectId, int] = {}
        for write in writes:
            self._events.publish(LiveEvent.MESSAGE_CREATED, write.message)
            added[write.conversation_id] = added.get(write.conversation_id, 0) + 1
        for conversation_id, count in added.items():
            conversation = conversations[conversation_id]
            created = conversation["message_count"] == count
            event = LiveEvent.CONVERSATION_CREATED if created else LiveEvent.CONVERSATION_UPDATED
            self._events.publish(event, conversation)


class _ContactMoved(Exception):
    """A conversation's contact changed (a merge) after the message was addressed to it."""


def _new_conversation(thread: NewThread) -> dict[str, Any]:
    """`waiting_since` and `first_response_at` stay absent until set: `$min` fills an absent
    field but would keep a null one."""
    return {
        "channel": thread.channel,
        "thread_key": thread.thread_key,
        "contact_id": thread.contact_id,
        "route": thread.route,
        "subject": thread.subject,
        "subject_key": thread.subject_key,
        "status": thread.status,
        "snoozed_until": None,
        "assignee_id": None,
        "team": None,
        "priority": None,
        "labels": [],
        "last_intent": None,
        "ticket_id": None,
        "lead_id": None,
        "message_count": 0,
        # The customer's messages, and how many of them staff had seen: the row's unread count.
        "inbound_count": 0,
        "seen_inbound_count": 0,
        "last_message_at": thread.at,
        "created_at": utcnow(),
    }


def _counted(writes: Sequence[InboundWrite]) -> list[dict[str, Any]]:
    """One update counting the inbound messages in the conversations they join: one statement
    for the batch (the embedded server pays its per-statement work, reading the index catalogue
    among it, once, not once per message). Each conversation finds its own figures by its id in
    the lists the update carries. It is one stage, since the embedded server copies the whole
    document for each stage. Machine-sent mail does not reopen the conversation or make it wait
    for an agent."""
    figures: dict[ObjectId, dict[str, Any]] = {}
    for write in writes:
        message, at = write.message, write.message["created_at"]
        counted = figures.setdefault(write.conversation_id, {"count": 0, "at": at, "reopens": False})
        counted.update(count=counted["count"] + 1, at=max(counted["at"], at), route=write.route,
                       last_message=message_preview(message))  # fmt: skip
        if "auto" not in message["flags"]:
            counted.update(reopens=True, waiting_since=min(counted.get("waiting_since", at), at))
    ids = list(figures)
    mine = {"$arrayElemAt": [{"$literal": list(figures.values())}, {"$indexOfArray": [ids, "$_id"]}]}
    reopens = "$$mine.reopens"
    counts = {
        "route": "$$mine.route",
        "last_message": "$$mine.last_message",
        "updated_at": "$$mine.at",
        "last_message_at": {"$max": ["$last_message_at", "$$mine.at"]},
        "message_count": {"$add": ["$message_count", "$$mine.count"]},
        "inbound_count": {"$add": [{"$ifNull": ["$inbound_count", 0]}, "$$mine.count"]},
        "status": {"$cond": [reopens, "open", "$status"]},
        "snoozed_until": {"$cond": [reopens, None, "$snoozed_until"]},
        "waiting_since": {
            "$cond": [reopens, {"$min": ["$waiting_since", "$$mine.waiting_since"]}, "$waiting_since"]
        },
    }
    counted = {"$mergeObjects": ["$$ROOT", counts]}
    return [{"$replaceWith": {"$let": {"vars": {"mine": mine}, "in": counted}}}]


def _key(write: InboundWrite) -> tuple[str, str]:
    return write.message["channel"], write.message["external_id"]


def _fresh(write: InboundWrite) -> Stored:
    message = write.message
    return Stored(message["_id"], write.conversation_id, message["contact_id"], False)
