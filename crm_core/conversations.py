"""Conversations and their messages: the one stream every channel writes into."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from crm_core.audit import Audited, audit_edit
from crm_core.domain_events import Event, EventLog, staff_actor
from crm_core.errors import Invalid, NotFound
from crm_core.jobs import enqueue, message_job
from crm_core.live import LiveEvent, LivePublisher
from crm_core.records import (
    check_one_of,
    find_after_duplicate,
    find_by_id,
    find_page,
    insert_new,
    is_transient,
    modify_one,
    object_id,
    one_of,
    update_found,
    utcnow,
)
from crm_core.search import TermSearch, search_terms
from crm_core.vocabularies import ACTIVE_STATUSES, CONVERSATION_STATUSES, INBOX_WORKERS, PRIORITIES


@dataclass(frozen=True)
class Stored:
    message_id: ObjectId
    conversation_id: ObjectId
    contact_id: ObjectId
    duplicate: bool


@dataclass(frozen=True)
class InboundWrite:
    """An inbound message for its conversation; replies go to `route` from then on."""

    conversation_id: ObjectId
    message: dict[str, Any]
    route: dict[str, Any]


@dataclass(frozen=True)
class NewThread:
    """A thread's first message: its conversation is made with these if it does not exist yet
    (with `status`: a thread we start ourselves need not wait in the inbox)."""

    channel: str
    thread_key: str
    contact_id: ObjectId
    route: dict[str, Any]
    subject: str | None
    at: datetime
    subject_key: str | None = None
    status: str = "open"


class _ContactMoved(Exception):
    """A conversation's contact changed (a merge) after the message was addressed to it."""


# A conversation is shown (inbox, counts, reports) once it holds a message: a first ingest
# that failed after creating it leaves nothing half-made in sight, and its retry fills it.
STARTED = {"message_count": {"$gt": 0}}


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    channel: str | None = None
    assignee: str | None = None  # a user id, "me" or "none"
    intent: str | None = None
    label: str | None = None
    priority: str | None = None
    contact_id: str | None = None
    q: str | None = None


def staff_sender(user: dict[str, Any]) -> dict[str, Any]:
    return {"type": "agent", "id": user["_id"], "name": user.get("name") or user["email"]}


class Conversations:
    def __init__(
        self, db: AsyncDatabase, events: LivePublisher, event_log: EventLog, term_search: TermSearch
    ) -> None:
        self._db = db
        self._col = db.conversations
        self._messages = db.messages
        self._events = events
        self._log = event_log
        self._term_search = term_search

    # Inbound (the ingest hot path: keep round trips few).

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

    def _opened(self, conversation: dict[str, Any]) -> Event:
        """The conversation's first message was counted: from now on it is in the inbox counts,
        under its assignee at this moment."""
        return self._log.new(
            "conversation.opened",
            channel=conversation["channel"],
            conversation_id=conversation["_id"],
            assignee_id=conversation.get("assignee_id"),
        )

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

    # Reading.

    async def get(self, conversation_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, conversation_id, "conversation")

    async def list(
        self, where: ConversationFilter, *, viewer_id: ObjectId, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        """Newest activity first; the cursor is the (last_message_at, _id) of the last row seen."""
        clauses = [STARTED, *await self._filter_clauses(where, viewer_id)]
        # One contact's conversations, a search's, or the active ones (few, however long the
        # history) are found through their own index; the rest of the history in time windows.
        active_only = bool(where.status) and set(where.status.split(",")) <= set(ACTIVE_STATUSES)
        selective = bool(where.contact_id or where.q) or active_only
        return await find_page(
            self._col, clauses, limit=limit, cursor=cursor, field="last_message_at", windows=not selective
        )

    async def _filter_clauses(self, where: ConversationFilter, viewer_id: ObjectId) -> list[dict[str, Any]]:
        # The search's ids first: the embedded server tries a filter's fields in order.
        clauses: list[dict[str, Any]] = [await self._search_clause(where.q)] if where.q else []
        if where.status:
            clauses.append(one_of("status", where.status, CONVERSATION_STATUSES))
        if where.channel:
            clauses.append({"channel": where.channel})
        if where.assignee == "me":
            clauses.append({"assignee_id": viewer_id})
        elif where.assignee == "none":
            clauses.append({"assignee_id": None})
        elif where.assignee:
            clauses.append({"assignee_id": object_id(where.assignee, "assignee")})
        if where.intent:
            clauses.append({"last_intent": where.intent})
        if where.label:
            clauses.append({"labels": where.label})
        if where.priority:
            clauses.append(one_of("priority", where.priority, PRIORITIES))
        if where.contact_id:
            clauses.append({"contact_id": object_id(where.contact_id, "contact")})
        return clauses

    async def _search_clause(self, q: str) -> dict[str, Any]:
        """Conversations whose messages or contact match every word of q, by prefix: their ids
        (an `$or` of the two would make the embedded server read every conversation)."""
        match = await self._term_search.match(q)
        if match is None:
            raise Invalid("q: give at least one word of two or more letters")
        of_messages = await self._term_search.find_ids(self._messages, match, {}, "conversation_id")
        contact_ids = await self._term_search.find_ids(self._db.contacts, match, {"merged_into": None})
        of_contacts = self._col.find({"contact_id": {"$in": contact_ids}}, {"_id": 1})
        conversation_ids = set(of_messages) | {c["_id"] async for c in of_contacts}
        return {"_id": {"$in": list(conversation_ids)}}

    async def messages(
        self,
        conversation_id: str | ObjectId,
        *,
        limit: int,
        cursor: tuple | None,
        customer_visible: bool = False,
    ) -> list[dict[str, Any]]:
        """Oldest first; the cursor is the (created_at, _id) of the last message seen.
        `customer_visible` leaves out notes and activity lines (for the customer's own view)."""
        conversation = await self.get(conversation_id)
        query: dict[str, Any] = {"conversation_id": conversation["_id"]}
        if customer_visible:
            query["kind"] = "message"
        return await find_page(self._messages, [query], limit=limit, cursor=cursor, oldest_first=True)

    async def edit_inbound(self, channel: str, external_id: str, text: str) -> dict[str, Any] | None:
        """A customer edited a message: keep what it said before, show what it says now."""
        current = await self._messages.find_one({"channel": channel, "external_id": external_id}, {"text": 1})
        if current is None or current["text"] == text:
            return None
        message = await update_found(
            self._messages,
            current["_id"],
            {
                "$set": {"text": text, "edited_at": utcnow(), "terms": search_terms(text)},
                "$push": {"edits": {"text": current["text"], "replaced_at": utcnow()}},
            },
            "message",
        )
        self._events.publish(LiveEvent.MESSAGE_UPDATED, message)
        return message

    async def set_mirror(self, conversation_id: str | ObjectId, tool: str, thread_id: str) -> bool:
        """Remember where a conversation is mirrored for staff (e.g. its Slack thread); False
        when it already was, so a second mirror thread is never recorded."""
        result = await self._col.update_one(
            {"_id": object_id(conversation_id, "conversation"), f"mirrors.{tool}": None},
            {"$set": {f"mirrors.{tool}": thread_id}},
        )
        return result.modified_count == 1

    async def record_delivery(
        self, message_id: ObjectId, delivery: dict[str, Any], external_id: str | None = None
    ) -> None:
        """How an outbound message's delivery stands (and its id at the channel, once sent)."""
        fields: dict[str, Any] = {"delivery": delivery} | (
            {"external_id": external_id} if external_id else {}
        )
        message = await modify_one(self._messages, {"_id": message_id}, {"$set": fields})
        if message is not None:
            self._events.publish(LiveEvent.MESSAGE_UPDATED, message)

    async def unmirrored(self, message_ids: list[ObjectId], tool: str) -> list[dict[str, Any]]:
        """Those of the messages not yet mirrored to `tool`."""
        return await self._messages.find(
            {"_id": {"$in": message_ids}, f"mirrored.{tool}": {"$exists": False}}
        ).to_list(None)

    async def mark_mirrored(self, message_id: ObjectId, tool: str, ref: str | None) -> None:
        """A message is mirrored to `tool` (as `ref` there; None when it could not be)."""
        await self._messages.update_one({"_id": message_id}, {"$set": {f"mirrored.{tool}": ref}})

    async def by_mirror(self, tool: str, thread_id: str) -> dict[str, Any] | None:
        return await self._col.find_one({f"mirrors.{tool}": thread_id})

    async def by_thread(self, channel: str, thread_key: str) -> dict[str, Any] | None:
        return await self._col.find_one({"channel": channel, "thread_key": thread_key})

    async def message_cursor(self, conversation_id: ObjectId, message_id: str) -> tuple | None:
        """The (created_at, _id) cursor of a message in this conversation, if it is one."""
        try:
            oid = ObjectId(message_id)
        except (InvalidId, TypeError):
            return None
        found = await self._messages.find_one(
            {"_id": oid, "conversation_id": conversation_id}, {"created_at": 1}
        )
        return (found["created_at"], found["_id"]) if found else None

    async def attachment(self, message_id: str, index: int) -> dict[str, Any]:
        """One attachment of a message, with its bytes when they were kept."""
        message = await self._messages.find_one({"_id": object_id(message_id, "message")}, {"attachments": 1})
        attachments = message.get("attachments", []) if message else []
        if not 0 <= index < len(attachments) or attachments[index].get("content") is None:
            raise NotFound(f"message {message_id} has no stored attachment {index}")
        return attachments[index]

    # Work by staff.

    async def update(
        self,
        conversation_id: str | ObjectId,
        changes: dict[str, Any],
        actor: dict[str, Any],
        audited: Audited | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply status/assignee/priority/labels changes; returns (new record, old values). The
        conversation is read in the transaction that changes it, so what changed (the activity
        lines, the events, the old values) is what this write changed, whatever another agent
        did a moment before."""
        changes, assignee_name = await self._validated(changes)
        now = utcnow()
        async with self._log.transaction() as session:
            current = await find_by_id(self._col, conversation_id, "conversation", session)
            changed = {k: v for k, v in changes.items() if current.get(k) != v}
            if not changed:
                return current, {}
            update = _staff_update(changed, now)
            conversation = await update_found(self._col, current["_id"], update, "conversation", session)
            activities = [
                _message(
                    conversation,
                    kind="activity",
                    direction="out",
                    sender=staff_sender(actor),
                    text=line,
                    at=now,
                )
                for line in _describe_changes(changed, actor, assignee_name)
            ]
            if activities:
                await self._messages.insert_many(activities, session=session)
            await self._log.record(self._changed(current, conversation, staff_actor(actor)), session)
            old = {k: current.get(k) for k in changed}
            await audit_edit(self._db, audited, conversation, old, session)
        for activity in activities:
            self._events.publish(LiveEvent.MESSAGE_CREATED, activity)
        self._events.publish(LiveEvent.CONVERSATION_UPDATED, conversation)
        return conversation, old

    async def _validated(self, changes: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The changes, normalised, and the new assignee's name when there is one."""
        out = dict(changes)
        assignee_name = None
        check_one_of(out, "status", CONVERSATION_STATUSES)
        if out.get("priority") is not None and out["priority"] not in PRIORITIES:
            raise Invalid(f"priority: must be one of {', '.join(PRIORITIES)} or null")
        if out.get("status") == "snoozed" and out.get("snoozed_until") is None:
            raise Invalid("snoozed_until: required when status is snoozed")
        if "labels" in out:
            out["labels"] = sorted({label.strip().lower() for label in out["labels"] or [] if label.strip()})
        if out.get("assignee_id") is not None:
            assignee = await self._db.users.find_one(
                {"_id": object_id(out["assignee_id"], "user"), "active": True},
                {"role": 1, "name": 1, "email": 1},
            )
            if assignee is None or assignee["role"] not in INBOX_WORKERS:
                raise Invalid("assignee_id: no active agent, manager or admin with that id")
            out["assignee_id"] = assignee["_id"]
            assignee_name = assignee.get("name") or assignee["email"]
        return out, assignee_name

    async def add_note(
        self,
        conversation_id: str | ObjectId,
        text: str,
        author: dict[str, Any],
        audited: Audited | None = None,
    ) -> dict:
        conversation = await self.get(conversation_id)
        note = _message(conversation, kind="note", direction="out", sender=staff_sender(author), text=text)
        async with self._log.transaction() as session:
            await self._messages.insert_one(note, session=session)
            if audited is not None:
                await audited.record(self._db, conversation["_id"], {"message_id": note["_id"]}, session)
        self._events.publish(LiveEvent.MESSAGE_CREATED, note)
        return note

    async def classified(
        self,
        conversation_id: ObjectId,
        intent: str,
        labels: list[str],
        *,
        resolved_by: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What automation learnt from a message: its intent, labels, and (spam) resolved by
        the rule `resolved_by`."""
        fields: dict[str, Any] = {"last_intent": intent}
        if resolved_by is None:
            conversation = await modify_one(
                self._col,
                {"_id": conversation_id},
                {"$set": fields, "$addToSet": {"labels": {"$each": labels}}},
            )
            if conversation is None:
                raise NotFound(f"conversation {conversation_id} not found")
            self._events.publish(LiveEvent.CONVERSATION_UPDATED, conversation)
            return conversation
        fields |= {"status": "resolved", "resolved_at": utcnow(), "snoozed_until": None}
        update = {"$set": fields, "$addToSet": {"labels": {"$each": labels}}}
        return await self.change(conversation_id, update, resolved_by)

    async def change(self, conversation_id: ObjectId, update: dict[str, Any], actor: dict[str, Any]) -> dict:
        """A change the hub makes itself (automation: a status, an assignee), with its events;
        read in its transaction, as a staff change is (`update`)."""
        async with self._log.transaction() as session:
            before = await find_by_id(self._col, conversation_id, "conversation", session)
            conversation = await update_found(self._col, conversation_id, update, "conversation", session)
            await self._log.record(self._changed(before, conversation, actor), session)
        self._events.publish(LiveEvent.CONVERSATION_UPDATED, conversation)
        return conversation

    async def add_actions(self, message_id: ObjectId, actions: list[dict[str, Any]]) -> None:
        """What automation did on a message after its classification (an agent's correction)."""
        await self._messages.update_one({"_id": message_id}, {"$push": {"nlp.actions": {"$each": actions}}})

    async def reconsidered(
        self, conversation_id: ObjectId, dropped_labels: Sequence[str], reviewer: dict[str, Any]
    ) -> dict[str, Any]:
        """An agent says automation was wrong: drop its labels and reopen what it resolved."""
        conversation = await modify_one(
            self._col, {"_id": conversation_id}, {"$pull": {"labels": {"$in": list(dropped_labels)}}}
        )
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        if conversation["status"] == "resolved":
            return await self.change(
                conversation_id, {"$set": {"status": "open", "resolved_at": None}}, reviewer
            )
        self._events.publish(LiveEvent.CONVERSATION_UPDATED, conversation)
        return conversation

    def _sent(self, message: dict[str, Any], conversation: dict[str, Any], *, response: bool) -> Event:
        first_response = None
        # `$min` set it now unless an earlier reply had (the database keeps milliseconds).
        if response and conversation["first_response_at"] > message["created_at"] - timedelta(milliseconds=1):
            first_response = (message["created_at"] - conversation["created_at"]).total_seconds()
        agent = message["sender"]
        return self._log.new(
            "message.sent",
            at=message["created_at"],
            channel=message["channel"],
            conversation_id=conversation["_id"],
            message_id=message["_id"],
            agent_id=agent["id"] if agent.get("type") == "agent" else None,
            opens=conversation["message_count"] == 1,
            intent=conversation.get("last_intent"),
            first_response_seconds=first_response,
        )

    def _changed(self, before: dict[str, Any], after: dict[str, Any], actor: dict[str, Any]) -> list[Event]:
        """The events of a change to a conversation's status or assignee."""
        common = {"actor": actor, "channel": after["channel"], "conversation_id": after["_id"]}
        events = []
        if before.get("status") != after.get("status"):
            resolution = None
            if after["status"] == "resolved":
                resolution = (after["resolved_at"] - after["created_at"]).total_seconds()
            events.append(
                self._log.new(
                    "conversation.status_changed",
                    **common,
                    status={"from": before.get("status"), "to": after["status"]},
                    intent=after.get("last_intent"),
                    agent_id=after.get("assignee_id") or (actor["id"] if actor["type"] == "user" else None),
                    resolution_seconds=resolution,
                )
            )
        if before.get("assignee_id") != after.get("assignee_id"):
            events.append(
                self._log.new(
                    "conversation.assigned",
                    **common,
                    assignee={"from": before.get("assignee_id"), "to": after.get("assignee_id")},
                    # Whether the conversation was in the inbox counts already (see `_opened`).
                    started=before["message_count"] > 0,
                )
            )
        return events

    async def add_reply(
        self,
        conversation_id: str | ObjectId,
        text: str,
        author: dict[str, Any],
        *,
        within: Callable[[AsyncClientSession], Awaitable[None]] | None = None,
        audited: Audited | None = None,
    ) -> dict:
        """Store an agent reply, the job that delivers it and its audit entry together (and
        `within`'s writes, such as its ticket's first response)."""
        return await self.add_outbound(
            conversation_id, text, staff_sender(author), response=True, within=within, audited=audited
        )

    async def add_outbound(
        self,
        conversation_id: str | ObjectId,
        text: str,
        sender: dict[str, Any],
        *,
        response: bool = False,
        fields: dict[str, Any] | None = None,
        within: Callable[[AsyncClientSession], Awaitable[None]] | None = None,
        audited: Audited | None = None,
    ) -> dict:
        """An outbound message and the job that delivers it in one transaction, with `within` (more
        writes that must happen with it, or raise to abort it). A `response` (a person
        answering) ends the customer's wait and counts for first-response time."""
        conversation = await self.get(conversation_id)
        now = utcnow()
        message = _message(conversation, kind="message", direction="out", sender=sender, text=text, at=now)
        message |= fields or {}
        message["delivery"] = {"status": "pending", "attempts": 0, "error": None}
        counted: dict[str, Any] = {
            "$set": {"last_message": _preview(message), "updated_at": now},
            "$max": {"last_message_at": now},
            "$inc": {"message_count": 1},
        }
        if response:
            counted |= {"$unset": {"waiting_since": ""}, "$min": {"first_response_at": now}}
        async with self._log.transaction() as session:
            await self._messages.insert_one(message, session=session)
            await enqueue(self._db, message_job(message, conversation), session)
            updated = await update_found(self._col, conversation["_id"], counted, "conversation", session)
            if within is not None:
                await within(session)
            if audited is not None:
                await audited.record(self._db, conversation["_id"], {"message_id": message["_id"]}, session)
            opens = [self._opened(updated)] if updated["message_count"] == 1 else []
            await self._log.record([self._sent(message, updated, response=response), *opens], session)
        self._events.publish(LiveEvent.MESSAGE_CREATED, message)
        self._events.publish(LiveEvent.CONVERSATION_UPDATED, updated)
        return message


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
        "last_message_at": thread.at,
        "created_at": utcnow(),
    }


def inbound_message(
    *,
    conversation_id: ObjectId,
    contact_id: ObjectId,
    channel: str,
    external_id: str,
    sender: dict[str, Any],
    text: str,
    attachments: list[dict[str, Any]],
    sent_at: datetime,
    subject: str | None = None,
    flags: dict[str, str] | None = None,
    **details: Any,
) -> dict[str, Any]:
    """An inbound message record. `flags["auto"]` marks machine-sent mail (auto-replies,
    bounces, bulk): stored and shown, never classified or acted on. `details` holds what only
    some channels have (html, original_text, email{})."""
    flags = flags or {}
    return {
        "_id": ObjectId(),
        "conversation_id": conversation_id,
        "contact_id": contact_id,
        "channel": channel,
        "external_id": external_id,
        "direction": "in",
        "kind": "message",
        "sender": {"type": "contact", "id": contact_id, **sender},
        "text": text,
        "attachments": attachments,
        "subject": subject,
        "flags": flags,
        **{key: value for key, value in details.items() if value is not None},
        "terms": search_terms(subject, text, *(a.get("name") for a in attachments)),
        "nlp": {"status": "skipped" if "auto" in flags else "pending"},
        "sent_at": sent_at,
        "created_at": utcnow(),
    }


def _message(
    conversation: dict[str, Any],
    *,
    kind: str,
    direction: str,
    sender: dict[str, Any],
    text: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "conversation_id": conversation["_id"],
        "contact_id": conversation["contact_id"],
        "channel": conversation["channel"],
        "external_id": None,
        "direction": direction,
        "kind": kind,
        "sender": sender,
        "text": text,
        "attachments": [],
        "terms": search_terms(text) if kind != "activity" else [],
        "created_at": at or utcnow(),
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
                       last_message=_preview(message))  # fmt: skip
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
        "status": {"$cond": [reopens, "open", "$status"]},
        "snoozed_until": {"$cond": [reopens, None, "$snoozed_until"]},
        "waiting_since": {
            "$cond": [reopens, {"$min": ["$waiting_since", "$$mine.waiting_since"]}, "$waiting_since"]
        },
    }
    counted = {"$mergeObjects": ["$$ROOT", counts]}
    return [{"$replaceWith": {"$let": {"vars": {"mine": mine}, "in": counted}}}]


def _staff_update(changed: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The update for a staff member's changes: resolving stamps the time, and any other status
    than snoozed ends a snooze."""
    update: dict[str, Any] = {"$set": {**changed, "updated_at": now}}
    if changed.get("status") == "resolved":
        update["$set"]["resolved_at"] = now
    if "status" in changed and changed["status"] != "snoozed" and "snoozed_until" not in changed:
        update["$set"]["snoozed_until"] = None
    return update


def _key(write: InboundWrite) -> tuple[str, str]:
    return write.message["channel"], write.message["external_id"]


def _fresh(write: InboundWrite) -> Stored:
    message = write.message
    return Stored(message["_id"], write.conversation_id, message["contact_id"], False)


def _preview(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message["_id"],
        "direction": message["direction"],
        "text": message["text"][:200],
        "at": message["created_at"],
    }


def _describe_changes(changed: dict[str, Any], actor: dict[str, Any], assignee_name: str | None) -> list[str]:
    who = actor.get("name") or actor["email"]
    lines = []
    for field, value in changed.items():
        if field == "snoozed_until":
            continue
        if field == "assignee_id":
            lines.append(
                f"{who} unassigned the conversation"
                if value is None
                else f"{who} assigned it to {assignee_name}"
            )
        elif field == "labels":
            lines.append(f"{who} set labels: {', '.join(value) or 'none'}")
        else:
            lines.append(f"{who} set {field} to {value if value is not None else 'none'}")
    return lines
