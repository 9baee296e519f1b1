"""The `message` job: a reply or a staff DM delivered through its channel's sender, its
delivery (sent, retrying, failed) kept on the message for the agent to see."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from channels.base import Attachment, DeliveryError, OutboundMessage, ReplySender
from crm_core.conversations import Conversations
from crm_core.jobs import MESSAGE, Job, JobFailed, RetryDelays
from crm_core.records import utcnow
from hub.metrics import Metrics


class MessageDelivery:
    kind: ClassVar[str] = MESSAGE
    retry_delays: ClassVar[RetryDelays] = None  # the queue's backoff

    def __init__(
        self, senders: Mapping[str, ReplySender], conversations: Conversations, metrics: Metrics
    ) -> None:
        self.senders = senders  # by channel: the configured channels' (filled as they open)
        self._conversations = conversations
        self._metrics = metrics

    async def run(self, job: Job) -> str | None:
        """Send; returns the message's id at the channel."""
        payload = job["payload"]
        channel = payload["channel"]
        sender = self.senders.get(channel)
        if sender is None:
            raise JobFailed(f"channel {channel!r} is not configured", retryable=False)
        message = OutboundMessage(
            delivery_id=str(job["_id"]),
            channel=channel,
            route=payload["route"],
            text=payload["text"],
            message_id=_text(payload["message_id"]),
            conversation_id=_text(payload["conversation_id"]),
            parts_sent=job.get("progress", {}).get("parts_sent", 0),
            attachments=await self._attachments(payload),
        )
        try:
            external_id = await sender.send(message)
        except DeliveryError as exc:
            raise JobFailed(
                str(exc),
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                progress={"parts_sent": exc.parts_sent},
            ) from exc
        return external_id

    async def _attachments(self, payload: dict[str, Any]) -> tuple[Attachment, ...]:
        if not payload.get("attachments"):
            return ()
        stored = await self._conversations.sent_attachments(str(payload["message_id"]))
        return tuple(
            Attachment(name=a["name"], content_type=a["content_type"], size=a["size"], content=a["content"])
            for a in stored
        )

    async def done(self, job: Job, outcome: str | None) -> None:
        """The reply shows as sent only once its job is done: a crash in between never leaves a
        reply shown as sent whose job will send it again."""
        payload = job["payload"]
        if payload["message_id"] is not None:
            delivery = {"status": "sent", "attempts": job["attempts"], "error": None, "sent_at": utcnow()}
            await self._conversations.record_delivery(payload["message_id"], delivery, outcome)
        self._metrics.deliveries.labels(payload["channel"], "sent").inc()

    async def failed(self, job: Job, failure: JobFailed, *, final: bool) -> None:
        payload = job["payload"]
        status = "failed" if final else "retrying"
        if payload["message_id"] is not None:
            delivery = {"status": status, "attempts": job["attempts"], "error": str(failure)}
            await self._conversations.record_delivery(payload["message_id"], delivery)
        self._metrics.deliveries.labels(payload["channel"], status).inc()


def _text(record_id: Any) -> str | None:
    return None if record_id is None else str(record_id)
