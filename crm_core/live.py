"""The realtime publisher the repositories report changes to (hub.realtime implements it)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class LiveEvent(StrEnum):
    """The events of the staff stream and the widget: a record created or updated (the stream
    shows each kind to the roles that may read it), a colleague's presence, and the greeting."""

    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    LEAD_CREATED = "lead.created"
    LEAD_UPDATED = "lead.updated"
    DEAL_CREATED = "deal.created"
    DEAL_UPDATED = "deal.updated"
    ORDER_CREATED = "order.created"
    ORDER_UPDATED = "order.updated"
    NOTIFICATION_CREATED = "notification.created"
    NOTIFICATION_UPDATED = "notification.updated"
    PRESENCE = "presence"  # {conversation_id, viewers}
    READY = "ready"  # the stream's first event: {user_id, presence}


class LivePublisher(Protocol):
    """Where services report the changes agents should see live."""

    @property
    def needs_publishing(self) -> bool:
        """False when the database itself carries events (change streams): then services
        need not read records back just to publish them."""
        ...

    def publish(self, event_type: LiveEvent, record: dict[str, Any]) -> None: ...
