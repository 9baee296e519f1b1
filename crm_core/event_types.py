"""Each kind of domain event as a typed, versioned class: the facts it carries and their
types. An event is checked against its class when it is made (`domain_events.EventLog.new`),
so what a listener reads and what is published cannot drift apart.

The public form of an event (`public_event`) is the contract outbound webhooks sign and send,
shaped as Stripe's and GitHub's events are: an envelope `{id, type, version, occurred_at,
actor, data}` whose `data` holds the class's fields, every id a string, nothing internal. A
class's `version` goes up only when a field is removed or changes meaning (adding one does not);
its JSON Schema is in the OpenAPI document (`webhooks` and `components.schemas`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from crm_core.vocabularies import (
    ConversationStatus,
    DealStage,
    OrderStatus,
    Priority,
    SlaTarget,
    TicketStatus,
)

# An id: an ObjectId inside the hub, a string outside.
Id = Annotated[str, BeforeValidator(str)]
OptionalId = Annotated[str | None, BeforeValidator(lambda value: None if value is None else str(value))]
# An amount: a float inside the hub, a decimal string outside.
DecimalText = Annotated[str | None, BeforeValidator(lambda value: None if value is None else str(value))]


T = TypeVar("T")


class Change(BaseModel, Generic[T]):
    """A value before and after the change."""

    from_: T | None = Field(alias="from", serialization_alias="from")
    to: T | None

    model_config = ConfigDict(populate_by_name=True)


class EventData(BaseModel):
    """What every kind of event's facts share: its type and version, and no unknown field
    published (internal facts, such as the full NLP analysis, stay inside)."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    about: ClassVar[str]  # one line for the documentation
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _AboutMessage(EventData):
    message_id: Id
    conversation_id: Id
    contact_id: Id
    channel: str


class MessageReceived(_AboutMessage):
    type = "message.received"
    about = "A customer's message was stored (and counted in its conversation)."
    opens: bool = Field(False, description="the conversation's first message")


class MessageSent(EventData):
    type = "message.sent"
    about = "An outbound message was stored: an agent's reply or the hub's own (a campaign step)."
    message_id: Id
    conversation_id: Id
    channel: str
    agent_id: OptionalId = None
    opens: bool = False
    intent: str | None = None
    first_response_seconds: float | None = Field(None, description="set on the conversation's first response")


class MessageClassified(_AboutMessage):
    type = "message.classified"
    about = "The NLP gave a customer's message its intent."
    intent: str
    confidence: float
    model: str


class MessageIntentReviewed(_AboutMessage):
    type = "message.intent_reviewed"
    about = "An agent agreed with or corrected a message's intent."
    intent: Change[str]
    agreed: bool


class ConversationOpened(EventData):
    type = "conversation.opened"
    about = "A conversation's first message was counted: it shows in the inbox from now on."
    conversation_id: Id
    channel: str
    assignee_id: OptionalId = None


class ConversationStatusChanged(EventData):
    type = "conversation.status_changed"
    about = "A conversation was opened again, set pending, snoozed or resolved."
    conversation_id: Id
    channel: str
    status: Change[ConversationStatus]
    intent: str | None = None
    agent_id: OptionalId = None
    resolution_seconds: float | None = None


class ConversationAssigned(EventData):
    type = "conversation.assigned"
    about = "A conversation's assignee changed."
    conversation_id: Id
    channel: str
    assignee: Change[Annotated[str, BeforeValidator(str)]]


class TicketOpened(EventData):
    type = "ticket.opened"
    about = "A support ticket was opened for a conversation."
    ticket_id: Id
    conversation_id: Id
    contact_id: Id
    channel: str
    priority: Priority
    intent: str


class TicketStatusChanged(EventData):
    type = "ticket.status_changed"
    about = "A ticket's status changed."
    ticket_id: Id
    conversation_id: Id
    channel: str
    status: Change[TicketStatus]


class _TicketSlaMark(EventData):
    """What the SLA watch says of a ticket's due time (not an event type itself)."""

    ticket_id: Id
    conversation_id: Id
    contact_id: Id
    channel: str
    assignee_id: OptionalId = None
    priority: Priority
    sla: SlaTarget


class TicketBreached(_TicketSlaMark):
    type = "ticket.breached"
    about = "An open ticket's SLA due time (first response or resolution) passed unmet."


class TicketSlaWarning(_TicketSlaMark):
    type = "ticket.sla_warning"
    about = (
        "An open ticket's SLA due time (first response or resolution) is less than 15 minutes away, unmet."
    )
    due_at: datetime


class LeadCreated(EventData):
    type = "lead.created"
    about = "A sales lead was opened for a contact."
    lead_id: Id
    contact_id: Id


class LeadQualified(EventData):
    type = "lead.qualified"
    about = "A lead's score reached the qualifying score."
    lead_id: Id
    contact_id: Id
    score: int


class LeadAssigned(EventData):
    type = "lead.assigned"
    about = "A qualified lead was handed to a sales rep."
    lead_id: Id
    contact_id: Id
    owner_id: Id


class DealStageChanged(EventData):
    type = "deal.stage_changed"
    about = "A deal moved to another stage of the pipeline (won and lost are stages)."
    deal_id: Id
    contact_id: Id
    stage: Change[DealStage]
    value: DecimalText = Field(None, description="the deal's amount, a decimal string")
    currency: str | None = Field(None, description="ISO 4217")


class ContactMerged(EventData):
    type = "contact.merged"
    about = "A contact was merged into another (the survivor keeps everything)."
    contact_id: Id = Field(description="the surviving contact")
    merged_id: Id = Field(description="the contact merged into it")
    moved: dict[str, int] = Field(description="how many records of each kind moved")


class OrderPlaced(EventData):
    type = "order.placed"
    about = "An order was recorded for a contact (from the API, a shop's webhook or an import)."
    order_id: Id
    contact_id: Id
    number: str
    status: OrderStatus
    total: DecimalText = Field(description="a decimal string")
    currency: str = Field(description="ISO 4217")


class OrderStatusChanged(EventData):
    type = "order.status_changed"
    about = "An order's status changed (paid, fulfilled, cancelled, refunded...)."
    order_id: Id
    contact_id: Id
    number: str
    status: Change[OrderStatus]


class ContactTierChanged(EventData):
    type = "contact.tier_changed"
    about = "A contact moved to another customer tier (by an order, or as time passed without one)."
    contact_id: Id
    tier: Change[str]


EVENT_CLASSES: tuple[type[EventData], ...] = (
    MessageReceived,
    MessageSent,
    MessageClassified,
    MessageIntentReviewed,
    ConversationOpened,
    ConversationStatusChanged,
    ConversationAssigned,
    TicketOpened,
    TicketStatusChanged,
    TicketSlaWarning,
    TicketBreached,
    LeadCreated,
    LeadQualified,
    LeadAssigned,
    DealStageChanged,
    ContactMerged,
    OrderPlaced,
    OrderStatusChanged,
    ContactTierChanged,
)
BY_TYPE: dict[str, type[EventData]] = {cls.type: cls for cls in EVENT_CLASSES}
EVENT_TYPES: tuple[str, ...] = tuple(BY_TYPE)


class Actor(BaseModel):
    """Who caused an event: a staff user, an integration's API key, an automation rule, or
    nobody (a customer's message, the hub itself)."""

    type: Literal["user", "api_key", "rule"]
    id: OptionalId = None
    rule: str | None = None
    model_config = ConfigDict(extra="ignore")


def _envelope(cls: type[EventData]) -> type[BaseModel]:
    name = cls.__name__ + "Event"
    return create_model(
        name,
        __doc__=cls.about,
        id=(str, Field(description="the event's id: receivers deduplicate on it")),
        type=(Literal[cls.type], ...),  # pyright: ignore[reportArgumentType]  (a Literal built at run time)
        version=(Literal[cls.version], ...),  # pyright: ignore[reportArgumentType]  (a Literal built at run time)
        occurred_at=(datetime, ...),
        actor=(Actor | None, None),
        data=(cls, ...),
    )


PUBLIC_EVENTS: dict[str, type[BaseModel]] = {cls.type: _envelope(cls) for cls in EVENT_CLASSES}


def checked(event: dict[str, Any]) -> None:
    """Raise when an event lacks a fact its class requires, or holds one of the wrong type."""
    BY_TYPE[event["type"]].model_validate(event)


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the world outside the hub sees it (JSON-ready)."""
    cls = BY_TYPE[event["type"]]
    envelope = PUBLIC_EVENTS[cls.type](
        id=str(event["_id"]),
        type=cls.type,
        version=cls.version,
        occurred_at=event["at"],
        actor=event.get("actor"),
        data=cls.model_validate(event),
    )
    return envelope.model_dump(mode="json", by_alias=True)
