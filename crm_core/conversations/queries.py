"""Reading conversations and their messages: the inbox, threads, attachments."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from crm_core.conversations.shapes import (
    STARTED,
    ConversationFilter,
)
from crm_core.conversations.store import ConversationStore
from crm_core.errors import Invalid, NotFound
from crm_core.records import (
    find_by_id,
    find_page,
    object_id,
    one_of,
)
from crm_core.vocabularies import ACTIVE_STATUSES, CONVERSATION_STATUSES, PRIORITIES

# The inbox filters counted per value (`facets`), and the field each counts.
FACETS = {
    "channel": "$channel",
    "intent": "$last_intent",
    "priority": "$priority",
    "label": "$labels",
    "assignee": "$assignee_id",
}


class ConversationQueries(ConversationStore):
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

    async def facets(
        self, where: ConversationFilter, viewer_id: ObjectId
    ) -> dict[str, dict[str, int]] | None:
        """{filter: {value: conversations}}: each filter's values counted with the other filters
        applied, in one aggregation over the active conversations (None when `where` asks for
        resolved ones: the whole history is not counted on the fly)."""
        statuses = where.status.split(",") if where.status else list(ACTIVE_STATUSES)
        one_of("status", ",".join(statuses), CONVERSATION_STATUSES)  # refuses an unknown one
        if not set(statuses) <= set(ACTIVE_STATUSES):
            return None
        scope = replace(where, **dict.fromkeys(FACETS, None))
        common = [STARTED, *await self._filter_clauses(replace(scope, status=",".join(statuses)), viewer_id)]
        facets: dict[str, list[dict[str, Any]]] = {}
        for name, field in FACETS.items():
            others = await self._filter_clauses(
                replace(where, **{name: None, "status": None, "q": None, "contact_id": None}), viewer_id
            )
            stages: list[dict[str, Any]] = [{"$match": {"$and": others}}] if others else []
            if name == "label":
                stages.append({"$unwind": "$labels"})
            facets[name] = [*stages, {"$group": {"_id": field, "count": {"$sum": 1}}}]
        pipeline = [{"$match": {"$and": common}}, {"$facet": facets}]
        [found] = await (await self._col.aggregate(pipeline)).to_list(None)
        return {
            name: {("none" if row["_id"] is None else str(row["_id"])): row["count"] for row in rows}
            for name, rows in found.items()
        }

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

    async def unmirrored(self, message_ids: list[ObjectId], tool: str) -> list[dict[str, Any]]:
        """Those of the messages not yet mirrored to `tool`."""
        return await self._messages.find(
            {"_id": {"$in": message_ids}, f"mirrored.{tool}": {"$exists": False}}
        ).to_list(None)

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
        """One attachment of a message, with its bytes when they were kept (a channel's in the
        message, an agent's upload in its own record)."""
        message = await self._messages.find_one({"_id": object_id(message_id, "message")}, {"attachments": 1})
        attachments = message.get("attachments", []) if message else []
        if not 0 <= index < len(attachments):
            raise NotFound(f"message {message_id} has no attachment {index}")
        attachment = attachments[index]
        if "upload_id" in attachment:
            return attachment | {"content": await self.uploads.content(attachment["upload_id"])}
        if attachment.get("content") is None:
            raise NotFound(f"message {message_id} has no stored attachment {index}")
        return attachment

    async def sent_attachments(self, message_id: str) -> list[dict[str, Any]]:
        """An outbound message's attachments with their bytes, for its delivery."""
        message = await self._messages.find_one({"_id": object_id(message_id, "message")}, {"attachments": 1})
        count = len(message.get("attachments", [])) if message else 0
        return [await self.attachment(message_id, index) for index in range(count)]

    async def channels_of(self, conversation_ids: list[ObjectId]) -> dict[ObjectId, str]:
        """The channel of each of these conversations."""
        found = self._col.find({"_id": {"$in": conversation_ids}}, {"channel": 1})
        return {conversation["_id"]: conversation["channel"] async for conversation in found}
