"""Automation rules: what the hub does with a classified message. Stored in MongoDB as one
document, validated on write, with defaults until an admin changes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.audit import Audited
from crm_core.errors import Invalid
from crm_core.records import transaction, utcnow
from crm_core.vocabularies import Priority
from nlp.labels import LEAD_INTENTS, TICKET_INTENTS

Sentiment = Literal["positive", "neutral", "negative"]
LEAD_SIGNALS = ("budget", "team_size", "company", "timeline", "request", "title")
RULES_ID = "automation_rules"  # the one rules record (its audit trail is read by this id)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sla(_Strict):
    first_response_minutes: int = Field(ge=1, le=525_600)
    resolution_minutes: int = Field(ge=1, le=525_600)


class TicketRules(_Strict):
    intents: list[str] = list(TICKET_INTENTS)
    sla: dict[Priority, Sla] = {
        Priority.URGENT: Sla(first_response_minutes=30, resolution_minutes=240),
        Priority.HIGH: Sla(first_response_minutes=60, resolution_minutes=480),
        Priority.MEDIUM: Sla(first_response_minutes=240, resolution_minutes=1440),
        Priority.LOW: Sla(first_response_minutes=480, resolution_minutes=2880),
    }
    agent_capacity: int = Field(default=20, ge=1, le=10_000, description="open tickets per agent")

    @field_validator("sla")
    @classmethod
    def _every_priority(cls, sla: dict[str, Sla]) -> dict[str, Sla]:
        missing = {"low", "medium", "high", "urgent"} - set(sla)
        if missing:
            raise ValueError(f"give SLA times for every priority; missing {', '.join(sorted(missing))}")
        return sla


class LeadRules(_Strict):
    intents: list[str] = list(LEAD_INTENTS)
    qualified_score: int = Field(default=50, ge=1, le=100)
    # Points per signal; a lead's score is their sum, capped at 100.
    points: dict[str, int] = {
        "budget": 25,
        "team_size": 20,
        "company": 15,
        "timeline": 15,
        "request": 15,
        "title": 10,
    }

    @field_validator("points")
    @classmethod
    def _known_signals(cls, points: dict[str, int]) -> dict[str, int]:
        unknown = set(points) - set(LEAD_SIGNALS)
        if unknown:
            raise ValueError(f"unknown signal {sorted(unknown)[0]!r}; known: {', '.join(LEAD_SIGNALS)}")
        if any(not 0 <= p <= 100 for p in points.values()):
            raise ValueError("points must be from 0 to 100")
        return points


class LabelRule(_Strict):
    intent: str
    label: str = Field(min_length=1, max_length=50)
    resolve: bool = False


class CampaignTrigger(_Strict):
    intent: str
    campaign: str = Field(min_length=1, max_length=64, description="the campaign's key")
    max_score: int | None = Field(default=None, ge=0, le=100, description="lead score at most this")
    min_score: int | None = Field(default=None, ge=0, le=100)
    sentiment: Sentiment | None = None
    channel: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="contact attributes to match")


class TierRule(_Strict):
    """A customer of this tier: their conversation raised to at least `priority`, and, when no
    one has it, handed to one of `assignee_ids` (spread among them)."""

    tier: str = Field(min_length=1, max_length=50, description="a customer tier's name")
    priority: Priority | None = None
    assignee_ids: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("assignee_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        if any(not ObjectId.is_valid(user_id) for user_id in ids):
            raise ValueError("assignee_ids: staff user ids")
        return ids


class Rules(_Strict):
    tickets: TicketRules = TicketRules()
    leads: LeadRules = LeadRules()
    labels: list[LabelRule] = [
        LabelRule(intent="spam", label="spam", resolve=True),
        LabelRule(intent="greeting", label="greeting"),
        LabelRule(intent="feedback", label="feedback"),
    ]
    campaign_triggers: list[CampaignTrigger] = [
        CampaignTrigger(intent="sales_inquiry", campaign="nurture", max_score=29),
        CampaignTrigger(intent="cancellation", campaign="win-back"),
    ]
    tiers: list[TierRule] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _one_ticket_or_lead(self) -> Rules:
        both = set(self.tickets.intents) & set(self.leads.intents)
        if both:
            raise ValueError(f"intent {sorted(both)[0]!r} cannot open both a ticket and a lead")
        return self


class RuleStore:
    def __init__(self, db: AsyncDatabase, intents: Sequence[str]) -> None:
        self._db = db
        self._col = db.settings
        self._intents = tuple(intents)

    async def get(self) -> Rules:
        doc = await self._col.find_one({"_id": RULES_ID})
        return Rules.model_validate(doc["rules"]) if doc else Rules()

    async def put(self, data: Any, audited: Audited) -> tuple[Rules, dict[str, Any]]:
        """Replace the rules; returns them and the sections that changed, from and to (read,
        written and audited in one transaction)."""
        rules = self.validate(data)
        after = rules.model_dump(mode="json")
        stamped = {"rules": rules.model_dump(), "updated_at": utcnow(), "updated_by": audited.actor["_id"]}
        async with transaction(self._db) as session:
            stored = await self._col.find_one({"_id": RULES_ID}, session=session)
            before = (Rules.model_validate(stored["rules"]) if stored else Rules()).model_dump(mode="json")
            await self._col.update_one(
                {"_id": RULES_ID},
                {"$set": stamped},
                upsert=True,
                session=session,
            )
            changed = {
                key: {"from": before.get(key), "to": value}
                for key, value in after.items()
                if before.get(key) != value
            }
            await audited.record(self._db, RULES_ID, changed, session)
        return rules, changed

    def validate(self, data: Any) -> Rules:
        try:
            rules = Rules.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "rules"
            raise Invalid(f"{where}: {first['msg']}") from exc
        named = [*rules.tickets.intents, *rules.leads.intents]
        named += [r.intent for r in rules.labels] + [t.intent for t in rules.campaign_triggers]
        unknown = sorted(set(named) - set(self._intents))
        if unknown:
            raise Invalid(f"unknown intent {unknown[0]!r}; known: {', '.join(self._intents)}")
        return rules
