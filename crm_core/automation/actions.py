"""Automation: turn a classified inbound message into actions by the rules. Every action is
safe to repeat for the same message, so a worker that crashed mid-batch can simply redo it.

It fails safe: a rule that resolves (spam, by default) resolves only on a confident verdict
about a contact with no history with us; otherwise the conversation stays open with a
`possible-<label>` label for an agent to judge. A support-like verdict opens a ticket even
when unsure (the ticket says so). Every action records the intent, confidence and model it
acted on and the rule that fired."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from crm_core.automation.rules import CampaignTrigger, LabelRule, Rules, RuleStore
from crm_core.contacts import Contacts
from crm_core.conversations import Conversations
from crm_core.domain_events import Event, rule_actor
from crm_core.marketing import Campaigns
from crm_core.sales import Leads, lead_signals
from crm_core.tickets import Tickets, ticket_priority

# The "model" of a verdict an agent gave: trusted as it is, never second-guessed.
AGENT = "agent"
log = logging.getLogger(__name__)
Action = dict[str, Any]


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


@dataclass(frozen=True)
class _Step:
    """One message on its way through the rules."""

    message: dict[str, Any]
    analysis: dict[str, Any]
    rules: Rules

    @property
    def intent(self) -> str:
        return self.analysis["intent"]

    def done(self, what: str, rule: str) -> Action:
        """An action, with the verdict it acted on and the rule that fired."""
        analysis = self.analysis
        return {
            "do": what,
            "rule": rule,
            "intent": analysis["intent"],
            "confidence": analysis["confidence"],
            "model": analysis["model"],
        }


class Automation:
    """Applies the rules to each classified message: a listener of `message.classified`."""

    name = "automation"
    gather_seconds = 0.0
    types = ("message.classified",)

    def __init__(
        self,
        db: AsyncDatabase,
        rules: RuleStore,
        conversations: Conversations,
        tickets: Tickets,
        leads: Leads,
        campaigns: Campaigns,
        contacts: Contacts,
        *,
        enrolled: Callable[[], None],
    ) -> None:
        self._messages = db.messages
        self._rules = rules
        self._conversations = conversations
        self._tickets = tickets
        self._leads = leads
        self._campaigns = campaigns
        self._contacts = contacts
        self._enrolled = enrolled

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
        """Apply the rules to one message; returns what was done and why."""
        step = _Step(message, analysis, rules)
        if analysis.get("opt_out"):
            return await self._opt_out(step)
        actions = await self._pause_enrolments(step)
        conversation, labelled = await self._label(step)
        actions += labelled
        actions += await self._open_ticket(step, conversation)
        score, scored = await self._score_lead(step, conversation)
        actions += scored
        return actions + await self._enrol(step, score)

    async def _opt_out(self, step: _Step) -> list[Action]:
        message = step.message
        await self._campaigns.opt_out(message["contact_id"], source=f"{message['channel']} message")
        await self._conversations.classified(message["conversation_id"], step.intent, ["opted-out"])
        return [step.done("opted_out", "opt-out words")]

    async def _pause_enrolments(self, step: _Step) -> list[Action]:
        if await self._campaigns.pause_for_reply(step.message["contact_id"], step.message["created_at"]):
            return [step.done("enrolment_paused", "campaigns pause on a reply")]
        return []

    async def _label(self, step: _Step) -> tuple[dict[str, Any], list[Action]]:
        """The label rules of the intent; a resolving one resolves only when it is safe."""
        intent = step.intent
        labelling = [rule for rule in step.rules.labels if rule.intent == intent]
        safe = any(rule.resolve for rule in labelling) and await self._may_resolve(
            step.message, step.analysis
        )
        conversation = await self._conversations.classified(
            step.message["conversation_id"],
            intent,
            [_label(rule, safe) for rule in labelling],
            resolved_by=rule_actor(f"labels[{intent}].resolve") if safe else None,
        )
        actions = [step.done(f"label:{_label(rule, safe)}", f"labels[{rule.intent}]") for rule in labelling]
        if safe:
            actions.append(step.done("resolved", f"labels[{intent}].resolve"))
        return conversation, actions

    async def _open_ticket(self, step: _Step, conversation: dict[str, Any]) -> list[Action]:
        intent, analysis, rules = step.intent, step.analysis, step.rules
        if intent not in rules.tickets.intents:
            return []
        priority = ticket_priority(intent, analysis["sentiment"]["label"], analysis["urgency"]["urgent"])
        how_sure = {
            "confidence": analysis["confidence"],
            "model": analysis["model"],
            "low_confidence": not analysis["confident"],
        }
        ticket = await self._tickets.open_for(
            conversation,
            step.message,
            intent=intent,
            priority=priority,
            rules=rules.tickets,
            classification=how_sure,
        )
        return [step.done(f"ticket:{ticket['priority']}", "tickets.intents")]

    async def _score_lead(self, step: _Step, conversation: dict[str, Any]) -> tuple[int | None, list[Action]]:
        rules = step.rules.leads
        if step.intent not in rules.intents:
            return None, []
        signals = lead_signals(step.analysis["entities"], rules.points)
        message = step.message
        lead = await self._leads.record(
            message["contact_id"], conversation["_id"], message["_id"], signals, rules
        )
        return lead["score"], [step.done(f"lead:{lead['status']}:{lead['score']}", "leads.intents")]

    async def _enrol(self, step: _Step, score: int | None) -> list[Action]:
        actions = []
        for trigger in step.rules.campaign_triggers:
            if await self._triggered(trigger, step.message, step.analysis, score):
                source = f"rule:{step.intent}"
                enrolled = await self._campaigns.enrol(
                    trigger.campaign, step.message["contact_id"], source=source
                )
                rule = f"campaign_triggers[{trigger.campaign}]"
                actions.append(step.done(f"campaign:{trigger.campaign}:{enrolled.reason}", rule))
                if enrolled.enrolment is not None:
                    self._enrolled()
        return actions

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
            labels = [rule.label for rule in wrong] + [_label(rule, False) for rule in wrong]
            await self._conversations.reconsidered(message["conversation_id"], labels, reviewer)
        return await self.act(message, verdict, rules)

    async def _may_resolve(self, message: dict[str, Any], analysis: dict[str, Any]) -> bool:
        if analysis["model"] == AGENT:
            return True
        return analysis["confident"] and not await self._contacts.has_history(message["contact_id"], message)

    async def _triggered(
        self, trigger: CampaignTrigger, message: dict[str, Any], analysis: dict[str, Any], score: int | None
    ) -> bool:
        if trigger.intent != analysis["intent"]:
            return False
        if trigger.channel and trigger.channel != message["channel"]:
            return False
        if trigger.sentiment and trigger.sentiment != analysis["sentiment"]["label"]:
            return False
        if trigger.max_score is not None and (score is None or score > trigger.max_score):
            return False
        if trigger.min_score is not None and (score is None or score < trigger.min_score):
            return False
        if trigger.attributes:
            attributes = await self._contacts.attributes(message["contact_id"])
            return all(attributes.get(k) == v for k, v in trigger.attributes.items())
        return True


def _label(rule: LabelRule, resolving: bool) -> str:
    """A resolving rule that may not resolve leaves its label as a question for an agent."""
    return f"possible-{rule.label}" if rule.resolve and not resolving else rule.label
