"""The message types every channel adapter speaks, and the errors it may raise."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


class PayloadError(ValueError):
    """The inbound payload is malformed; the sender should not retry it unchanged."""


class SignatureError(Exception):
    """The request's signature or secret is missing or wrong."""


class DeliveryError(Exception):
    """A send failed. `retryable` tells the job queue whether to try again; `parts_sent`, how many
    parts of a message sent in parts are delivered, so a retry sends only the rest."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, parts_sent: int = 0
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.parts_sent = parts_sent


@dataclass(frozen=True)
class Sender:
    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None
    content: bytes | None = None  # kept when the channel delivers the bytes and they fit the limit
    note: str | None = None  # why the content was not kept, when it was not


@dataclass(frozen=True)
class InboundMessage:
    """One customer message, normalised. `thread_key` is unique within the channel and
    names a new conversation; `thread_refs` are external ids of earlier messages this one
    answers (email In-Reply-To, then References), tried first, then `subject_key` (a
    normalised subject) from the same contact in recent days; `route` is what the channel
    needs to send a reply there. `flags` mark messages that must never trigger automation
    (auto-replies, bounces, bulk mail) or that arrived damaged."""

    channel: str
    external_id: str
    thread_key: str
    sender: Sender
    text: str
    sent_at: datetime
    attachments: tuple[Attachment, ...] = ()
    route: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    thread_refs: tuple[str, ...] = ()
    subject_key: str | None = None
    html: str | None = None
    original_text: str | None = None  # the full text when `text` had quotes/signature stripped
    email: dict[str, Any] | None = None
    flags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """One reply to deliver. `delivery_id` is stable across retries so receivers can dedupe."""

    delivery_id: str
    channel: str
    route: dict[str, Any]
    text: str
    message_id: str | None  # None for a direct message to staff
    conversation_id: str | None
    parts_sent: int = 0  # of a message sent in parts: delivered by earlier attempts
    attachments: tuple[Attachment, ...] = ()  # with their bytes


# Files people send each other at work; never programs or pages a browser would run.
EVERYDAY_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
)


MAX_FILES_PER_MESSAGE = 5


@dataclass(frozen=True)
class AttachmentPolicy:
    """What files a channel's replies can carry: each at most `max_bytes`, of these types."""

    max_bytes: int
    content_types: tuple[str, ...] = EVERYDAY_FILE_TYPES

    def accepts(self, content_type: str) -> bool:
        return content_type in self.content_types


class ReplySender(Protocol):
    channel: str

    async def send(self, message: OutboundMessage) -> str | None:
        """Deliver the message; return the channel's id for it when it gives one."""
        ...


MAX_JSON_DEPTH = 32
# Integers we store stay exact in JSON clients (2^53) and fit BSON's int64.
MAX_SAFE_INTEGER = 2**53
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def utc_moment(value: datetime) -> datetime:
    """A time from the outside world, in UTC (naive means UTC) and within years 1970-8999:
    converting 9999-12-31T23:59-14:00 to UTC would overflow."""
    try:
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("time out of range") from exc
    if not EARLIEST <= moment < LATEST:
        raise ValueError("time out of range (1970 to 8999)")
    return moment


def parse_json(body: bytes) -> Any:
    """A JSON body from the outside world. Anything a parser or our storage would choke on
    (invalid bytes, nesting past MAX_JSON_DEPTH, integers past Python's digit limit, lone
    UTF-16 surrogates such as "\\ud800") is a PayloadError, never a crash."""
    try:
        data = json.loads(body or b"null", parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise PayloadError(f"body is nested more than {MAX_JSON_DEPTH} levels deep") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, Python's integer digit limit
        raise PayloadError(f"body is not valid JSON: {str(exc)[:200]}") from exc
    if problem := _unstorable(data):
        raise PayloadError(problem)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """1e400 reads as infinity, which JSON cannot say back."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is past the largest number")
    return number


def _unstorable(value: Any) -> str | None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return "body holds a lone UTF-16 surrogate, which is not text"
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"body is nested more than {MAX_JSON_DEPTH} levels deep"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison that also takes any text a client sends (compare_digest
    refuses non-ASCII str)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "backslashreplace"))


def hmac_sha256_signature(secret: str, body: bytes) -> str:
    """The `sha256=<hex>` form used by the chat and email webhooks and our outbound posts."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hmac_sha256(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureError("missing X-Hub-Signature-256 header")
    if not same_secret(hmac_sha256_signature(secret, body), header.strip()):
        raise SignatureError("signature does not match the body")
