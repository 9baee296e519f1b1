"""Automation: turn a classified inbound message into actions by the rules. Every action is
safe to repeat for the same message, so a worker that crashed mid-batch can simply redo it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from crm_core.automation import CampaignTrigger, Rules
from crm_core.conversations import Conversations
from crm_core.marketing import Campaigns
from crm_core.sales import Leads, lead_signals
from crm_core.service import Tickets, ticket_priority

# Tells a qualified lead's owner about it, once per lead and owner; True when it did just now.
LeadAssigned = Callable[[dict[str, Any]], Awaitable[bool]]


class Automation:
    def __init__(
        self,
        conversations: Conversations,
        tickets: Tickets,
        leads: Leads,
        campaigns: Campaigns,
        *,
        contacts_attributes: Callable[[Any], Awaitable[dict[str, Any]]],
        lead_assigned: LeadAssigned,
        enrolled: Callable[[], None],
    ) -> None:
        self._conversations = conversations
        self._tickets = tickets
        self._leads = leads
        self._campaigns = campaigns
        self._attributes = contacts_attributes
        self._lead_assigned = lead_assigned
        self._enrolled = enrolled

    async def act(self, message: dict[str, Any], analysis: dict[str, Any], rules: Rules) -> list[str]:
        """Apply the rules to one message; returns what was done, for the logs and tests."""
        contact_id, intent = message["contact_id"], analysis["intent"]
        if analysis.get("opt_out"):
            await self._campaigns.opt_out(contact_id, source=f"{message['channel']} message")
            await self._conversations.classified(
                message["conversation_id"], intent, ["opted-out"], resolve=False
            )
            return ["opted_out"]
        actions: list[str] = []
        if await self._campaigns.pause_for_reply(contact_id, message["created_at"]):
            actions.append("enrolment_paused")
        labelling = [rule for rule in rules.labels if rule.intent == intent]
        conversation = await self._conversations.classified(
            message["conversation_id"],
            intent,
            [rule.label for rule in labelling],
            resolve=any(rule.resolve for rule in labelling),
        )
        if intent in rules.tickets.intents:
            priority = ticket_priority(intent, analysis["sentiment"]["label"], analysis["urgency"]["urgent"])
            ticket = await self._tickets.open_for(
                conversation, message, intent=intent, priority=priority, rules=rules.tickets
            )
            actions.append(f"ticket:{ticket['priority']}")
        score = None
        if intent in rules.leads.intents:
            signals = lead_signals(analysis["entities"], rules.leads.points)
            lead = await self._leads.record(
                contact_id, conversation["_id"], message["_id"], signals, rules.leads
            )
            score = lead["score"]
            actions.append(f"lead:{lead['status']}:{score}")
            # Asked each time the lead is qualified and owned; it tells the rep once.
            if lead["status"] == "qualified" and lead["owner_id"] and await self._lead_assigned(lead):
                actions.append("lead_assigned")
        for trigger in rules.campaign_triggers:
            if await self._triggered(trigger, message, analysis, score):
                enrolled = await self._campaigns.enrol(trigger.campaign, contact_id, source=f"rule:{intent}")
                actions.append(f"campaign:{trigger.campaign}:{enrolled.reason}")
                if enrolled.enrolment is not None:
                    self._enrolled()
        return actions

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
            attributes = await self._attributes(message["contact_id"])
            return all(attributes.get(k) == v for k, v in trigger.attributes.items())
        return True
