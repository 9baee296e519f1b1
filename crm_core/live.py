"""The realtime publisher the repositories report changes to (hub.realtime implements it)."""

from __future__ import annotations

from typing import Any, Protocol


class LivePublisher(Protocol):
    """Where services report the changes agents should see live."""

    @property
    def needs_publishing(self) -> bool:
        """False when the database itself carries events (change streams): then services
        need not read records back just to publish them."""
        ...

    def publish(self, event_type: str, record: dict[str, Any]) -> None: ...
