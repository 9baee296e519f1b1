"""Agents' word on what a message meant: each review says whether the model's intent was
right. Corrections teach the next `python -m nlp train`; agreement is the model's live accuracy."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.domain_events import EventLog, staff_actor
from crm_core.errors import Conflict, Invalid
from crm_core.records import find_by_id, utcnow


class IntentReviews:
    def __init__(self, db: AsyncDatabase, intents: tuple[str, ...], event_log: EventLog) -> None:
        self._db = db
        self._col = db.intent_reviews
        self._log = event_log
        self._messages = db.messages
        self._intents = intents

    async def record(
        self, message_id: str, intent: str, reviewer: dict[str, Any], audited: Audited | None = None
    ) -> tuple[dict, dict]:
        """(the message, the review); one review per message, the latest agent's word wins."""
        if intent not in self._intents:
            raise Invalid(f"intent: unknown {intent!r}; known: {', '.join(self._intents)}")
        message = await find_by_id(self._messages, message_id, "message")
        model_intent = (message.get("nlp") or {}).get("intent")
        if message.get("direction") != "in" or model_intent is None:
            raise Conflict("only a classified inbound message can have its intent reviewed")
        review = {
            "intent": intent,
            "model_intent": model_intent,
            "model": message["nlp"].get("model"),
            "agreed": intent == model_intent,
            "text": message["text"],
            "reviewer_id": reviewer["_id"],
            "at": utcnow(),
        }
        async with self._log.transaction() as session:
            # A read and an upsert rather than findAndModify, which the embedded server writes
            # through a scan of the collection once the review exists (records.modify_one).
            this_message = {"message_id": message["_id"]}
            earlier = await self._col.find_one(this_message, session=session)
            await self._col.update_one(this_message, {"$set": review}, upsert=True, session=session)
            event = self._log.about_message(
                "message.intent_reviewed",
                message,
                at=review["at"],
                actor=staff_actor(reviewer),
                intent={"from": model_intent, "to": intent},
                agreed=review["agreed"],
                # The latest review replaces an earlier one (in the reports too).
                replaces={"at": earlier["at"], "agreed": earlier["agreed"]} if earlier else None,
            )
            await self._log.record([event], session)
            if audited is not None:
                changes = {"message_id": message["_id"], "intent": {"from": model_intent, "to": intent}}
                await audited.record(self._db, message["conversation_id"], changes, session)
        return message, {"message_id": message["_id"], **review}

    async def corrections(self, limit: int = 100_000) -> list[dict[str, Any]]:
        """Every review that disagreed with the model: text, the agent's intent and the model's."""
        fields = {"_id": 0, "text": 1, "intent": 1, "model_intent": 1, "model": 1, "at": 1}
        return await self._col.find({"agreed": False}, fields).sort("at", 1).to_list(limit)
