"""Generic chat/API channel: signed JSON webhooks in, signed JSON posts out."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated

import aiohttp
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from channels.base import (
    MAX_SAFE_INTEGER,
    Attachment,
    AttachmentPolicy,
    DeliveryError,
    InboundMessage,
    OutboundMessage,
    PayloadError,
    Sender,
    hmac_sha256_signature,
    parse_json,
    utc_moment,
    verify_hmac_sha256,
)

CHANNEL = "chat"
# Files go inline, base64-encoded in the signed JSON post.
REPLY_ATTACHMENTS = AttachmentPolicy(max_bytes=5 * 1024 * 1024)
SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-Hub-Delivery"


class _Sender(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    id: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=512)
    content_type: str | None = Field(default=None, max_length=256)
    size: int | None = Field(default=None, ge=0, le=MAX_SAFE_INTEGER)
    url: str | None = Field(default=None, max_length=4096)


class ChatPayload(BaseModel):
    """The body of `POST /webhooks/chat`."""

    model_config = ConfigDict(extra="ignore")
    external_id: str = Field(min_length=1, max_length=256)
    thread_id: str | None = Field(default=None, max_length=256)
    sender: _Sender
    text: str = Field(default="", max_length=65536)
    sent_at: Annotated[datetime, AfterValidator(utc_moment)] | None = None
    attachments: list[_Attachment] = Field(default_factory=list, max_length=50)


def verify(secret: str, body: bytes, signature: str | None) -> None:
    verify_hmac_sha256(secret, body, signature)


def parse(body: bytes) -> InboundMessage:
    raw = parse_json(body)
    try:
        payload = ChatPayload.model_validate(raw)
    except ValidationError as exc:
        raise PayloadError(_describe(exc)) from exc
    if not payload.text.strip() and not payload.attachments:
        raise PayloadError("text: a message needs text or at least one attachment")
    thread_id = payload.thread_id or "default"
    sent_at = payload.sent_at or datetime.now(UTC)
    return InboundMessage(
        channel=CHANNEL,
        external_id=payload.external_id,
        # Thread ids are chosen by the integrating system and may repeat across senders.
        thread_key=f"{payload.sender.id}\x1f{thread_id}",
        sender=Sender(
            external_id=payload.sender.id,
            name=payload.sender.name,
            email=payload.sender.email,
            phone=payload.sender.phone,
        ),
        text=payload.text,
        sent_at=sent_at,
        attachments=tuple(Attachment(**a.model_dump()) for a in payload.attachments),
        route={"sender_id": payload.sender.id, "thread_id": thread_id},
    )


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


class ChatSender:
    """Posts agent replies to `HUB_CHAT_OUTBOUND_URL`, signed like inbound webhooks."""

    channel = CHANNEL

    def __init__(self, url: str | None, secret: str, session: aiohttp.ClientSession) -> None:
        self._url = url
        self._secret = secret
        self._session = session

    async def send(self, message: OutboundMessage) -> str | None:
        if not self._url:
            raise DeliveryError("HUB_CHAT_OUTBOUND_URL is not set", retryable=False)
        body = json.dumps(
            {
                "id": message.delivery_id,
                "message_id": message.message_id,
                "conversation_id": message.conversation_id,
                "recipient": {"id": message.route.get("sender_id")},
                "thread_id": message.route.get("thread_id"),
                "text": message.text,
                "attachments": [
                    {
                        "name": attachment.name,
                        "content_type": attachment.content_type,
                        "size": attachment.size,
                        "content_base64": base64.b64encode(attachment.content or b"").decode(),
                    }
                    for attachment in message.attachments
                ],
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: hmac_sha256_signature(self._secret, body),
            DELIVERY_HEADER: message.delivery_id,
        }
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp:
                if resp.status < 300:
                    return None
                retryable = resp.status >= 500 or resp.status in (408, 429)
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                raise DeliveryError(
                    f"receiver answered HTTP {resp.status}", retryable=retryable, retry_after=retry_after
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"receiver unreachable: {exc.__class__.__name__}", retryable=True) from exc


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
