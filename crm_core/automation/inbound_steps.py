"""The inbound step chain: what happens to a classified customer message, as an ordered list
of small steps. Each step reads the message and its verdict, may act (recording what it did
and which rule fired) and may stop the chain; a new step (a survey answer, an auto-answer) is
one more class placed where it belongs in `default_chain`.

Machine-sent mail (auto-replies, bounces, bulk: flagged by the channel's adapter) and loops
never reach the chain: such a message is stored with `nlp.status: skipped` and not classified.

It fails safe: a rule that resolves (spam, by default) resolves only on a confident verdict
about a contact with no history with us; otherwise the conversation stays open with a
`possible-<label>` label for an agent to judge. A support-like verdict opens a ticket even
when unsure (the ticket says so)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from bson import ObjectId

from crm_core.automation.rules import CampaignTrigger, LabelRule, Rules
from crm_core.contacts import Contacts
from crm_core.conversations import Conversations
from crm_core.domain_events import rule_actor
from crm_core.marketing import Campaigns
from crm_core.sales import Leads, lead_signals
from crm_core.tickets import Tickets, ticket_priority
from crm_core.vocabularies import PRIORITIES

# The "model" of a verdict an agent gave: trusted as it is, never second-guessed.
AGENT = "agent"
Action = dict[str, Any]


class Flow(Enum):
    NEXT = "next"
    STOP = "stop"


@dataclass
class Inbound:
    """One classified message on its way through the chain, with what the steps found."""

    message: dict[str, Any]
    analysis: dict[str, Any]
    rules: Rules
    conversation: dict[str, Any] | None = None  # as the labelling step left it
    lead_score: int | None = None
    actions: list[Action] = field(default_factory=list)

    @property
    def intent(self) -> str:
        return self.analysis["intent"]

    def did(self, what: str, rule: str) -> None:
        """Record an action, with the verdict it acted on and the rule that fired."""
        analysis = self.analysis
        self.actions.append(
            {
                "do": what,
                "rule": rule,
                "intent": analysis["intent"],
                "confidence": analysis["confidence"],
                "model": analysis["model"],
            }
        )


class InboundStep(Protocol):
    async def __call__(self, inbound: Inbound) -> Flow: ...


@dataclass(frozen=True)
class OptOut:
    """Words that ask us to stop: recorded as the contact's opt-out; nothing else happens."""

    campaigns: Campaigns
    conversations: Conversations

    async def __call__(self, inbound: Inbound) -> Flow:
        if not inbound.analysis.get("opt_out"):
            return Flow.NEXT
        message = inbound.message
        await self.campaigns.opt_out(message["contact_id"], source=f"{message['channel']} message")
        await self.conversations.classified(message["conversation_id"], inbound.intent, ["opted-out"])
        inbound.did("opted_out", "opt-out words")
        return Flow.STOP


@dataclass(frozen=True)
class PauseEnrolments:
    """A customer who answers is a person to talk to: their campaign steps wait."""

    campaigns: Campaigns

    async def __call__(self, inbound: Inbound) -> Flow:
        message = inbound.message
        if await self.campaigns.pause_for_reply(message["contact_id"], message["created_at"]):
            inbound.did("enrolment_paused", "campaigns pause on a reply")
        return Flow.NEXT


@dataclass(frozen=True)
class Label:
    """The label rules of the intent (the spam verdict among them); a resolving one resolves
    only when it is safe."""

    conversations: Conversations
    contacts: Contacts

    async def __call__(self, inbound: Inbound) -> Flow:
        intent = inbound.intent
        labelling = [rule for rule in inbound.rules.labels if rule.intent == intent]
        safe = any(rule.resolve for rule in labelling) and await self._may_resolve(inbound)
        inbound.conversation = await self.conversations.classified(
            inbound.message["conversation_id"],
            intent,
            [resolving_label(rule, safe) for rule in labelling],
            resolved_by=rule_actor(f"labels[{intent}].resolve") if safe else None,
        )
        for rule in labelling:
            inbound.did(f"label:{resolving_label(rule, safe)}", f"labels[{rule.intent}]")
        if safe:
            inbound.did("resolved", f"labels[{intent}].resolve")
        return Flow.NEXT

    async def _may_resolve(self, inbound: Inbound) -> bool:
        analysis, message = inbound.analysis, inbound.message
        if analysis["model"] == AGENT:
            return True
        return analysis["confident"] and not await self.contacts.has_history(message["contact_id"], message)


@dataclass(frozen=True)
class OpenTicket:
    tickets: Tickets

    async def __call__(self, inbound: Inbound) -> Flow:
        intent, analysis, rules = inbound.intent, inbound.analysis, inbound.rules
        if intent not in rules.tickets.intents or inbound.conversation is None:
            return Flow.NEXT
        priority = ticket_priority(intent, analysis["sentiment"]["label"], analysis["urgency"]["urgent"])
        how_sure = {
            "confidence": analysis["confidence"],
            "model": analysis["model"],
            "low_confidence": not analysis["confident"],
        }
        ticket = await self.tickets.open_for(
            inbound.conversation,
            inbound.message,
            intent=intent,
            priority=priority,
            rules=rules.tickets,
            classification=how_sure,
        )
        inbound.did(f"ticket:{ticket['priority']}", "tickets.intents")
        return Flow.NEXT


@dataclass(frozen=True)
class TierRouting:
    """The tier rules of the customer's tier (after the ticket, whose priority it may raise)."""

    conversations: Conversations
    contacts: Contacts

    async def __call__(self, inbound: Inbound) -> Flow:
        if inbound.conversation is None or not inbound.rules.tiers:
            return Flow.NEXT
        tier = (await self.contacts.get(inbound.message["contact_id"])).get("tier")
        rule = next((rule for rule in inbound.rules.tiers if rule.tier == tier), None)
        if rule is None:
            return Flow.NEXT
        conversation = await self.conversations.get(inbound.conversation["_id"])
        fields: dict[str, Any] = {}
        current = conversation.get("priority")
        if rule.priority and (current is None or PRIORITIES.index(rule.priority) > PRIORITIES.index(current)):
            fields["priority"] = rule.priority
        if rule.assignee_ids and conversation.get("assignee_id") is None:
            spread = int(str(conversation["_id"])[-6:], 16) % len(rule.assignee_ids)
            fields["assignee_id"] = ObjectId(rule.assignee_ids[spread])
        if fields:
            inbound.conversation = await self.conversations.change(
                conversation["_id"], {"$set": fields}, rule_actor(f"tiers[{tier}]")
            )
            inbound.did(f"tier:{tier}", f"tiers[{tier}]")
        return Flow.NEXT


@dataclass(frozen=True)
class ScoreLead:
    leads: Leads

    async def __call__(self, inbound: Inbound) -> Flow:
        rules = inbound.rules.leads
        if inbound.intent not in rules.intents or inbound.conversation is None:
            return Flow.NEXT
        signals = lead_signals(inbound.analysis["entities"], rules.points)
        message = inbound.message
        lead = await self.leads.record(
            message["contact_id"], inbound.conversation["_id"], message["_id"], signals, rules
        )
        inbound.lead_score = lead["score"]
        inbound.did(f"lead:{lead['status']}:{lead['score']}", "leads.intents")
        return Flow.NEXT


@dataclass(frozen=True)
class Enrol:
    """The campaign triggers the message meets enrol its contact."""

    campaigns: Campaigns
    contacts: Contacts
    enrolled: Callable[[], None]  # wakes the campaign scheduler

    async def __call__(self, inbound: Inbound) -> Flow:
        for trigger in inbound.rules.campaign_triggers:
            if await self._triggered(trigger, inbound):
                enrolment = await self.campaigns.enrol(
                    trigger.campaign, inbound.message["contact_id"], source=f"rule:{inbound.intent}"
                )
                inbound.did(
                    f"campaign:{trigger.campaign}:{enrolment.reason}",
                    f"campaign_triggers[{trigger.campaign}]",
                )
                if enrolment.enrolment is not None:
                    self.enrolled()
        return Flow.NEXT

    async def _triggered(self, trigger: CampaignTrigger, inbound: Inbound) -> bool:
        message, analysis, score = inbound.message, inbound.analysis, inbound.lead_score
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
            attributes = await self.contacts.attributes(message["contact_id"])
            return all(attributes.get(k) == v for k, v in trigger.attributes.items())
        return True


def resolving_label(rule: LabelRule, resolving: bool) -> str:
    """A resolving rule that may not resolve leaves its label as a question for an agent."""
    return f"possible-{rule.label}" if rule.resolve and not resolving else rule.label


def default_chain(
    conversations: Conversations,
    contacts: Contacts,
    tickets: Tickets,
    leads: Leads,
    campaigns: Campaigns,
    *,
    enrolled: Callable[[], None],
) -> list[InboundStep]:
    """The steps in order: opting out stops the chain; the labels (and the spam verdict) come
    before the ticket and the lead, which need the conversation; enrolment reads the lead's score."""
    return [
        OptOut(campaigns, conversations),
        PauseEnrolments(campaigns),
        Label(conversations, contacts),
        OpenTicket(tickets),
        TierRouting(conversations, contacts),
        ScoreLead(leads),
        Enrol(campaigns, contacts, enrolled),
    ]
