"""Changes to conversations: by staff (status, assignee, priority, labels, replies, notes), by
automation (intent, labels, actions), by channels (edits, deliveries, mirrors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_core.audit import Audited, audit_edit
from crm_core.conversations.queries import ConversationQueries
from crm_core.conversations.shapes import message_preview, staff_sender
from crm_core.domain_events import Event, staff_actor
from crm_core.errors import Invalid, NotFound
from crm_core.jobs import enqueue, message_job
from crm_core.live import LiveEvent
from crm_core.records import (
    check_one_of,
    find_by_id,
    modify_one,
    object_id,
    update_found,
    utcnow,
)
from crm_core.search import search_terms
from crm_core.vocabularies import CONVERSATION_STATUSES, INBOX_WORKERS, PRIORITIES


class ConversationCommands(ConversationQueries):
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

    async def mark_mirrored(self, message_id: ObjectId, tool: str, ref: str | None) -> None:
        """A message is mirrored to `tool` (as `ref` there; None when it could not be)."""
        await self._messages.update_one({"_id": message_id}, {"$set": {f"mirrored.{tool}": ref}})

    async def seen(self, conversation_id: str | ObjectId) -> dict[str, Any]:
        """Staff have read the customer's messages so far: its unread count is zero (for every
        colleague: the inbox is shared)."""
        conversation = await self.get(conversation_id)
        if conversation.get("seen_inbound_count", 0) >= conversation.get("inbound_count", 0):
            return conversation
        seen = [{"$set": {"seen_inbound_count": {"$ifNull": ["$inbound_count", 0]}}}]
        updated = await modify_one(self._col, {"_id": conversation["_id"]}, seen)
        if updated is None:
            raise NotFound(f"conversation {conversation_id} not found")
        self._events.publish(LiveEvent.CONVERSATION_UPDATED, updated)
        return updated

    async def update(
        self,
        conversation_id: str | ObjectId,
        changes: dict[str, Any],
        actor: dict[str, Any],
        audited: Audited | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply status/assignee/priority/labels changes (`add_labels`: labels added to those it
        has); returns (new record, old values). The conversation is read in the transaction that
        changes it, so what changed (the activity lines, the events, the old values) is what
        this write changed, whatever another agent did a moment before."""
        validated, assignee_name = await self._validated(changes)
        return await self._apply(conversation_id, validated, assignee_name, actor, audited)

    async def _apply(
        self,
        conversation_id: str | ObjectId,
        validated: dict[str, Any],
        assignee_name: str | None,
        actor: dict[str, Any],
        audited: Audited | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """`update`, once its changes are checked."""
        changes = dict(validated)
        added = changes.pop("add_labels", None)
        now = utcnow()
        async with self._log.transaction() as session:
            current = await find_by_id(self._col, conversation_id, "conversation", session)
            if added:
                changes["labels"] = sorted(set(current.get("labels") or []) | set(added))
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

    async def update_many(
        self, conversation_ids: list[str], changes: dict[str, Any], actor: dict[str, Any], audited: Audited
    ) -> list[dict[str, Any]]:
        """The same change to several conversations (a bulk action): checked first, so a change
        that is invalid, or a conversation that does not exist, changes none of them and says
        which; then each conversation is changed in its own transaction, as `update` does (the
        change checked once, not once per conversation)."""
        validated, assignee_name = await self._validated(changes)
        ids = list(
            dict.fromkeys(object_id(conversation_id, "conversation") for conversation_id in conversation_ids)
        )
        found = {c["_id"] for c in await self._col.find({"_id": {"$in": ids}}, {"_id": 1}).to_list(None)}
        missing = [str(conversation_id) for conversation_id in ids if conversation_id not in found]
        if missing:
            raise NotFound(f"no conversation {', '.join(missing)}: none was changed")
        return [
            (await self._apply(conversation_id, validated, assignee_name, actor, audited))[0]
            for conversation_id in ids
        ]

    async def _validated(self, changes: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The changes, normalised, and the new assignee's name when there is one."""
        out = dict(changes)
        assignee_name = None
        check_one_of(out, "status", CONVERSATION_STATUSES)
        if out.get("priority") is not None and out["priority"] not in PRIORITIES:
            raise Invalid(f"priority: must be one of {', '.join(PRIORITIES)} or null")
        if out.get("status") == "snoozed" and out.get("snoozed_until") is None:
            raise Invalid("snoozed_until: required when status is snoozed")
        for field in ("labels", "add_labels"):
            if field in out:
                out[field] = sorted({label.strip().lower() for label in out[field] or [] if label.strip()})
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
        within: Callable[[AsyncClientSession, dict[str, Any]], Awaitable[None]] | None = None,
        upload_ids: Sequence[str] = (),
    ) -> dict:
        """A private note with its attachments (the author's uploads), and `within`'s writes
        about it (its mentions' notifications)."""
        conversation = await self.get(conversation_id)
        note = _message(conversation, kind="note", direction="out", sender=staff_sender(author), text=text)
        async with self._log.transaction() as session:
            note["attachments"] = await self.uploads.claim(upload_ids, note, author["_id"], "note", session)
            await self._messages.insert_one(note, session=session)
            if within is not None:
                await within(session, note)
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
        upload_ids: Sequence[str] = (),
    ) -> dict:
        """Store an agent reply with its attachments (the author's uploads), the job that
        delivers it and its audit entry together (and `within`'s writes, such as its ticket's
        first response)."""

        async def attach(session: AsyncClientSession, message: dict[str, Any]) -> None:
            message["attachments"] = await self.uploads.claim(
                upload_ids, message, author["_id"], "reply", session
            )

        return await self.add_outbound(
            conversation_id,
            text,
            staff_sender(author),
            response=True,
            within=within,
            audited=audited,
            attach=attach if upload_ids else None,
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
        attach: Callable[[AsyncClientSession, dict[str, Any]], Awaitable[None]] | None = None,
    ) -> dict:
        """An outbound message and the job that delivers it in one transaction, with `within` (more
        writes that must happen with it, or raise to abort it) and `attach` (its attachments,
        set on it before it is stored). A `response` (a person answering) ends the customer's
        wait and counts for first-response time."""
        conversation = await self.get(conversation_id)
        now = utcnow()
        message = _message(conversation, kind="message", direction="out", sender=sender, text=text, at=now)
        message |= fields or {}
        message["delivery"] = {"status": "pending", "attempts": 0, "error": None}
        counted: dict[str, Any] = {
            "$set": {"last_message": message_preview(message), "updated_at": now},
            "$max": {"last_message_at": now},
            "$inc": {"message_count": 1},
        }
        if response:
            counted |= {"$unset": {"waiting_since": ""}, "$min": {"first_response_at": now}}
        async with self._log.transaction() as session:
            if attach is not None:
                await attach(session, message)
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


def _staff_update(changed: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The update for a staff member's changes: resolving stamps the time, and any other status
    than snoozed ends a snooze."""
    update: dict[str, Any] = {"$set": {**changed, "updated_at": now}}
    if changed.get("status") == "resolved":
        update["$set"]["resolved_at"] = now
    if "status" in changed and changed["status"] != "snoozed" and "snoozed_until" not in changed:
        update["$set"]["snoozed_until"] = None
    return update


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
