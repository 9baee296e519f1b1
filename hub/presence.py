"""Who has which conversation open in the console, so two agents don't answer at once. Kept per
hub process (the console's websocket says what it shows); with several processes each knows
its own viewers."""

from __future__ import annotations

from typing import Any


class Presence:
    def __init__(self) -> None:
        self._viewing: dict[object, tuple[str, dict[str, Any]]] = {}  # socket -> (conversation, user)

    def view(self, socket: object, conversation_id: str | None, user: dict[str, Any]) -> set[str]:
        """This socket now shows `conversation_id` (None: no conversation); returns the
        conversations whose viewers changed."""
        before = self._viewing.pop(socket, None)
        if conversation_id:
            self._viewing[socket] = (conversation_id, {"id": str(user["_id"]), "name": user.get("name")})
        changed = {conversation_id} if conversation_id else set()
        return changed | ({before[0]} if before else set())

    def viewers(self, conversation_id: str) -> list[dict[str, Any]]:
        unique = {user["id"]: user for shown, user in self._viewing.values() if shown == conversation_id}
        return sorted(unique.values(), key=lambda user: user["id"])

    def all(self) -> dict[str, list[dict[str, Any]]]:
        return {conversation: self.viewers(conversation) for conversation, _ in self._viewing.values()}
