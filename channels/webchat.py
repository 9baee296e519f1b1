"""Web widget channel: visitor identities signed by the hub, optional identity verification of
the host site's logged-in users, and parsing of the widget's websocket frames."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.base import (
    AttachmentPolicy,
    InboundMessage,
    OutboundMessage,
    PayloadError,
    Sender,
    SignatureError,
    same_secret,
)

Frame = TypeVar("Frame", bound=BaseModel)
CHANNEL = "webchat"
MAX_TEXT = 4000
# Shown in the widget as links the hub serves, signed per file.
REPLY_ATTACHMENTS = AttachmentPolicy(max_bytes=5 * 1024 * 1024)


def _mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _token_key(secret: str) -> bytes:
    """Visitor tokens are signed with a key derived for them alone: the secret itself signs
    the host site's user hashes, so a token's signature can never pass as a user hash."""
    return hmac.new(secret.encode(), b"hub widget visitor token v2", hashlib.sha256).digest()


def issue_visitor_token(secret: str) -> str:
    """A new anonymous visitor: a random id with the hub's signature, kept by the browser."""
    visitor_id = secrets.token_hex(16)
    return f"{visitor_id}.{_mac(_token_key(secret), visitor_id)}"


def verify_visitor_token(secret: str, token: str) -> str:
    visitor_id, _, signature = token.partition(".")
    if not visitor_id or not same_secret(_mac(_token_key(secret), visitor_id), signature):
        raise SignatureError("visitor token is not one this hub issued")
    return visitor_id


def user_hash(secret: str, user_id: str) -> str:
    """What the host site computes server-side to vouch for its logged-in user (HMAC-SHA256)."""
    return _mac(secret.encode(), user_id)


def verify_user(secret: str, user_id: str | None, claimed_hash: str | None) -> bool:
    if not (user_id and claimed_hash):
        return False
    return same_secret(user_hash(secret, user_id), claimed_hash)


@dataclass(frozen=True)
class Visitor:
    """Who is on the other end of a widget connection. A verified user of the host site is the
    same contact on every device; an anonymous visitor is one browser."""

    key: str  # "visitor:<id>" or "user:<host site's id>"
    verified: bool
    name: str | None = None
    email: str | None = None

    @property
    def thread_key(self) -> str:
        return self.key


class Hello(BaseModel):
    """The first frame: `token` (a returning visitor), `since` (the last message id the tab
    has), and `user_id` + `user_hash` for a user the host site vouches for."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["hello"]
    token: str | None = Field(default=None, max_length=200)
    since: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    user_hash: str | None = Field(default=None, max_length=128)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    type: str = Field(max_length=32)
    client_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)


def parse_hello(data: Any) -> Hello:
    return _validated(Hello, data)


def parse_frame(data: Any) -> _Frame:
    return _validated(_Frame, data)


def _validated(model: type[Frame], data: Any) -> Frame:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadError(f"{'.'.join(str(p) for p in first['loc']) or 'frame'}: {first['msg']}") from exc


def parse_message(visitor: Visitor, frame: _Frame) -> InboundMessage:
    """A `{"type": "message", "client_id", "text"}` frame as an inbound message. The client id is
    chosen by the browser and reused when it resends after a reconnect, so resends dedupe."""
    if not frame.client_id:
        raise PayloadError("client_id: required")
    if not frame.text:
        raise PayloadError("text: a message needs text")
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"{visitor.key}:{frame.client_id}",
        thread_key=visitor.thread_key,
        # An address typed into the widget proves nothing: it identifies the customer only
        # when the host site vouches for the user (the session keeps it as a claim otherwise).
        sender=Sender(
            external_id=visitor.key, name=visitor.name, email=visitor.email if visitor.verified else None
        ),
        text=frame.text,
        sent_at=datetime.now(UTC),
        route={"visitor": visitor.key},
    )


def _attachment_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"hub widget attachment v1", hashlib.sha256).digest()


def attachment_signature(secret: str, message_id: str, index: int) -> str:
    """Lets whoever was shown an agent's file fetch it, and nothing else."""
    return _mac(_attachment_key(secret), f"{message_id}:{index}")


def public_message(message: dict[str, Any], secret: str) -> dict[str, Any]:
    """What a visitor may see of a message: never notes, activities or staff internals; an
    agent's files as links signed with `secret`."""
    sender = message.get("sender") or {}
    at = message["created_at"]
    inbound = message["direction"] == "in"
    message_id = str(message.get("_id") or message.get("id"))
    return {
        "id": message_id,
        # Lets the tab that sent it replace its pending bubble, whichever arrives first.
        "client_id": (message.get("external_id") or "").rpartition(":")[2] if inbound else None,
        "direction": message["direction"],
        "text": message["text"],
        "author": None if inbound else sender.get("name"),
        "at": at if isinstance(at, str) else at.isoformat(),
        "attachments": []
        if inbound
        else [
            {
                "name": attachment["name"],
                "content_type": attachment.get("content_type"),
                "size": attachment.get("size"),
                "url": f"/widget/attachments/{message_id}/{index}"
                f"?sig={attachment_signature(secret, message_id, index)}",
            }
            for index, attachment in enumerate(message.get("attachments", []))
        ],
    }


class WebchatSender:
    """Replies reach the widget through the realtime stream it listens to; a visitor who is away
    gets them with the history when the widget reconnects. Nothing to send here."""

    channel = CHANNEL

    async def send(self, message: OutboundMessage) -> str | None:
        return None
