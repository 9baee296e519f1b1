"""What the conversation repository's parts share: the collections, the realtime publisher,
the event log, and the event of a conversation's first counted message."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_core.conversations.uploads import Uploads
from crm_core.domain_events import Event, EventLog
from crm_core.live import LivePublisher
from crm_core.search import TermSearch


class ConversationStore:
    def __init__(
        self, db: AsyncDatabase, events: LivePublisher, event_log: EventLog, term_search: TermSearch
    ) -> None:
        self._db = db
        self._col = db.conversations
        self._messages = db.messages
        self.uploads = Uploads(db)
        self._events = events
        self._log = event_log
        self._term_search = term_search

    def _opened(self, conversation: dict[str, Any]) -> Event:
        """The conversation's first message was counted: from now on it is in the inbox counts,
        under its assignee at this moment."""
        return self._log.new(
            "conversation.opened",
            channel=conversation["channel"],
            conversation_id=conversation["_id"],
            assignee_id=conversation.get("assignee_id"),
        )
