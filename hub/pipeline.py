"""The inbound pipeline (DESIGN steps 1-5 and 7): contact, conversation, one message, counters.

Hot path: with the thread cached, a message joins the next group commit (one duplicate check
and one transaction storing the messages and their conversations' counters, for every message
that arrived meanwhile). A thread's conversation id never changes; a contact merge changes its
contact, which `add_inbound` notices and follows, so the cache needs no invalidation. Threads
not cached are opened together too: the first messages arriving meanwhile find or make their
contacts in one query and one insert, then their conversations the same way."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta

from bson import ObjectId

from channels.base import InboundMessage
from crm_core.contacts import Contacts, SenderIdentity
from crm_core.conversations import Conversations, InboundWrite, NewThread, Stored, inbound_message
from crm_core.errors import NotFound
from crm_core.records import utcnow
from hub.group_commit import GroupCommit
from hub.metrics import Metrics

THREAD_CACHE_SIZE = 20_000
# A reply with no usable threading headers joins the same contact's conversation with the
# same subject only if that conversation was active this recently.
SUBJECT_THREAD_WINDOW = timedelta(days=14)


class Pipeline:
    def __init__(
        self,
        contacts: Contacts,
        conversations: Conversations,
        metrics: Metrics,
        *,
        to_classify: Callable[[], None] = lambda: None,
    ) -> None:
        self._contacts = contacts
        self._to_classify = to_classify
        self._conversations = conversations
        self._metrics = metrics
        self._threads: OrderedDict[tuple[str, str], tuple[ObjectId, ObjectId]] = OrderedDict()
        self._writes = GroupCommit(conversations.add_inbound)
        self._openings = GroupCommit(self._open_threads)

    async def ingest(self, msg: InboundMessage) -> Stored:
        started = time.perf_counter()
        try:
            stored = await self._store(msg)
        except NotFound:
            # The cached thread's conversation is gone (its customer was erased): open it anew.
            self._threads.pop((msg.channel, msg.thread_key), None)
            stored = await self._store(msg)
        if not stored.duplicate:
            self._remember((msg.channel, msg.thread_key), (stored.conversation_id, stored.contact_id))
        self._metrics.ingested.labels(msg.channel, "duplicate" if stored.duplicate else "stored").inc()
        self._metrics.ingest_seconds.labels(msg.channel).observe(time.perf_counter() - started)
        return stored

    async def _store(self, msg: InboundMessage) -> Stored:
        conversation_id, contact_id = await self._thread(msg)
        message = inbound_message(
            conversation_id=conversation_id,
            contact_id=contact_id,
            channel=msg.channel,
            external_id=msg.external_id,
            sender={
                "external_id": msg.sender.external_id,
                "name": msg.sender.name,
                "email": msg.sender.email,
                "phone": msg.sender.phone,
            },
            text=msg.text,
            attachments=[{k: v for k, v in vars(a).items() if v is not None} for a in msg.attachments],
            sent_at=msg.sent_at,
            subject=msg.subject,
            flags=msg.flags,
            html=msg.html,
            original_text=msg.original_text,
            email=msg.email,
        )
        stored = await self._writes.submit(InboundWrite(conversation_id, message, msg.route))
        if not stored.duplicate and message["nlp"]["status"] == "pending":
            self._to_classify()
        return stored

    async def _thread(self, msg: InboundMessage) -> tuple[ObjectId, ObjectId]:
        key = (msg.channel, msg.thread_key)
        if (cached := self._threads.get(key)) is not None:
            self._threads.move_to_end(key)
            return cached
        thread = await self._openings.submit(msg)
        self._remember(key, thread)
        return thread

    async def _open_threads(self, messages: Sequence[InboundMessage]) -> list[tuple[ObjectId, ObjectId]]:
        """(conversation id, contact id) for each message's thread: the reply of a known thread
        (email references or subject) or the conversation of its thread key, made if new."""
        contact_ids = await self._contacts.resolve_many(
            [
                SenderIdentity(
                    msg.channel, msg.sender.external_id, msg.sender.name, msg.sender.email, msg.sender.phone
                )
                for msg in messages
            ]
        )
        now = utcnow()
        threads: list[tuple[ObjectId, ObjectId] | None] = [
            await self._conversations.find_thread(
                msg.channel, msg.thread_refs, contact_id, msg.subject_key, since=now - SUBJECT_THREAD_WINDOW
            )
            if msg.thread_refs or msg.subject_key
            else None
            for msg, contact_id in zip(messages, contact_ids, strict=True)
        ]
        opening = [
            (i, msg) for i, (msg, thread) in enumerate(zip(messages, threads, strict=True)) if not thread
        ]
        opened = await self._conversations.threads_for_inbound(
            [
                NewThread(
                    msg.channel, msg.thread_key, contact_ids[i], msg.route, msg.subject, now, msg.subject_key
                )
                for i, msg in opening
            ]
        )
        for (i, _), thread in zip(opening, opened, strict=True):
            threads[i] = thread
        resolved = []
        for thread in threads:
            if thread is None:
                raise RuntimeError("a thread was neither found nor opened")
            resolved.append(thread)
        return resolved

    def _remember(self, key: tuple[str, str], thread: tuple[ObjectId, ObjectId]) -> None:
        self._threads[key] = thread
        self._threads.move_to_end(key)
        if len(self._threads) > THREAD_CACHE_SIZE:
            self._threads.popitem(last=False)
