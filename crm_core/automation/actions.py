"""Automation: a listener of `message.classified` that takes each classified message through
the inbound step chain (`inbound_steps`) and marks it done with the actions the steps took.
Every action is safe to repeat for the same message, so a worker that crashed mid-batch can
simply redo it. Every action records the intent, confidence and model it acted on and the rule
that fired."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from crm_core.automation.inbound_steps import AGENT, Action, Flow, Inbound, InboundStep, resolving_label
from crm_core.automation.rules import Rules, RuleStore
from crm_core.conversations import Conversations
from crm_core.domain_events import Event

log = logging.getLogger(__name__)


def agent_verdict(intent: str) -> dict[str, Any]:
    """An analysis standing for an agent's word on a message's intent."""
    return {
        "intent": intent,
        "confidence": 1.0,
        "confident": True,
        "ranking": [{"intent": intent, "score": 1.0}],
        "model": AGENT,
        "opt_out": False,
    }


class Automation:
    """Applies the rules to each classified message: a listener of `message.classified`."""

    name = "automation"
    gather_seconds = 0.0
    types = ("message.classified",)

    def __init__(
        self, db: AsyncDatabase, rules: RuleStore, conversations: Conversations, steps: Sequence[InboundStep]
    ) -> None:
        self._messages = db.messages
        self._rules = rules
        self._conversations = conversations
        self.steps = list(steps)  # the inbound step chain, in order

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        """Act on each message and mark it done with its actions. The actions are safe to
        repeat, so a batch handed over again after a crash is simply redone."""
        rules = await self._rules.get()
        ids = [event["message_id"] for event in events]
        found = {m["_id"]: m for m in await self._messages.find({"_id": {"$in": ids}}).to_list(None)}
        outcomes = []
        for event in events:
            if (message := found.get(event["message_id"])) is None:
                continue
            try:
                actions = await self.act(message, event["analysis"], rules)
                outcome: dict[str, Any] = {"nlp.status": "done", "nlp.actions": actions}
            except PyMongoError:
                raise  # the database is away: the batch is handed over again
            except Exception as exc:
                # One message that automation cannot handle must not block the others.
                log.exception("automation failed for a message", extra={"message_id": str(message["_id"])})
                error = f"{exc.__class__.__name__}: {exc}"
                outcome = {"nlp.status": "failed", "nlp.actions": [], "nlp.error": error}
            outcomes.append(UpdateOne({"_id": message["_id"]}, {"$set": outcome}))
            log.info(
                "message acted on",
                extra={"message_id": str(message["_id"]), "actions": outcome["nlp.actions"]},
            )
        if outcomes:
            await self._messages.bulk_write(outcomes, ordered=False, session=session)

    async def act(self, message: dict[str, Any], analysis: dict[str, Any], rules: Rules) -> list[Action]:
        """Take one message through the chain; returns what was done and why."""
        inbound = Inbound(message, analysis, rules)
        for step in self.steps:
            if await step(inbound) is Flow.STOP:
                break
        return inbound.actions

    async def corrected(
        self, message: dict[str, Any], intent: str, rules: Rules, reviewer: dict[str, Any]
    ) -> list[Action]:
        """Route a message again on an agent's intent: what automation did on the model's
        wrong verdict is undone first (its labels dropped, a conversation it resolved reopened)."""
        analysis = message.get("nlp") or {}
        was = analysis.get("intent")
        verdict = {
            **agent_verdict(intent),
            "sentiment": analysis.get("sentiment") or {"label": "neutral", "score": 0.0},
            "urgency": analysis.get("urgency") or {"urgent": False, "cues": []},
            "entities": analysis.get("entities") or [],
        }
        wrong = [rule for rule in rules.labels if rule.intent == was and was != intent]
        if wrong:
            labels = [rule.label for rule in wrong] + [resolving_label(rule, False) for rule in wrong]
            await self._conversations.reconsidered(message["conversation_id"], labels, reviewer)
        return await self.act(message, verdict, rules)
