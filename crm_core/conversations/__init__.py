"""Conversations and their messages: the one stream every channel writes into. The repository
is split by concern: ingest (inbound messages, the hot path), queries (reading) and commands
(changes by staff, automation and channels), over one store; shapes holds the records and their
builders."""

from crm_core.conversations.commands import ConversationCommands
from crm_core.conversations.ingest import ConversationIngest
from crm_core.conversations.shapes import (
    STARTED,
    ConversationFilter,
    InboundWrite,
    NewThread,
    Stored,
    inbound_message,
    staff_sender,
)


class Conversations(ConversationIngest, ConversationCommands):
    """The conversation repository: ingest, queries and commands together."""


__all__ = [
    "STARTED",
    "ConversationFilter",
    "Conversations",
    "InboundWrite",
    "NewThread",
    "Stored",
    "inbound_message",
    "staff_sender",
]
