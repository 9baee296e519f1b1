"""Telegram through python-telegram-bot: private chats with the bot are customer
conversations; staff who linked their account may run commands; replies via send_message."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from telegram import Bot, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application
from telegram.warnings import PTBDeprecationWarning

from channels.base import Attachment, AttachmentPolicy, DeliveryError, InboundMessage, OutboundMessage, Sender

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_URL = "https://api.telegram.org"
MAX_TEXT = 4096  # UTF-16 code units in one message (Bot API sendMessage)
# Sent as documents (the Bot API takes up to 50 MB; we keep uploads small).
REPLY_ATTACHMENTS = AttachmentPolicy(max_bytes=5 * 1024 * 1024)
STAFF_COMMANDS = ("/stats", "/leads", "/sla", "/help", "/link")


def build_application(token: str, api_url: str | None) -> Application:
    """A PTB application for webhook mode inside our own web server: no updater of its own."""
    base = (api_url or DEFAULT_API_URL).rstrip("/")
    return (
        Application.builder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .updater(None)
        .build()
    )


@dataclass(frozen=True)
class Edit:
    """A customer edited an earlier message."""

    external_id: str
    text: str


@dataclass(frozen=True)
class CommandText:
    """A /command: staff commands for linked staff, /start for everyone."""

    user_id: str
    chat_id: int
    text: str


def parse(update: Update) -> InboundMessage | Edit | CommandText | None:
    """What an update means for the hub; None for what it ignores (groups, channels, bots)."""
    message = update.message or update.edited_message
    if (
        message is None
        or message.chat.type != "private"
        or message.from_user is None
        or message.from_user.is_bot
    ):
        return None
    text = message.text or message.caption or ""
    if update.edited_message is not None:
        return Edit(external_id=_external_id(message), text=text)
    if (
        message.text
        and message.text.startswith("/")
        and message.text.split()[0].split("@")[0]
        in (
            *STAFF_COMMANDS,
            "/start",
        )
    ):
        return CommandText(user_id=str(message.from_user.id), chat_id=message.chat.id, text=message.text)
    user = message.from_user
    return InboundMessage(
        channel=CHANNEL,
        external_id=_external_id(message),
        thread_key=str(message.chat.id),
        sender=Sender(external_id=str(user.id), name=user.full_name or user.username),
        text=text,
        sent_at=message.date.astimezone(UTC) if message.date else datetime.now(UTC),
        attachments=tuple(_attachments(message)),
        route={"chat_id": message.chat.id},
    )


def _external_id(message: Message) -> str:
    return f"{message.chat.id}:{message.message_id}"


def _attachments(message: Message) -> list[Attachment]:
    found = []
    if message.photo:
        largest = message.photo[-1]
        found.append(Attachment(name=f"photo-{largest.file_unique_id}.jpg", content_type="image/jpeg",
                                size=largest.file_size, url=f"telegram-file:{largest.file_id}"))  # fmt: skip
    for item, kind in ((message.document, None), (message.voice, "audio/ogg"), (message.audio, None),
                       (message.video, None)):  # fmt: skip
        if item is not None:
            found.append(
                Attachment(
                    name=getattr(item, "file_name", None)
                    or f"{type(item).__name__.lower()}-{item.file_unique_id}",
                    content_type=getattr(item, "mime_type", None) or kind,
                    size=item.file_size,
                    url=f"telegram-file:{item.file_id}",
                )
            )
    return found


def _delivery_error(exc: TelegramError, *, parts_sent: int) -> DeliveryError:
    if isinstance(exc, RetryAfter):
        seconds = _seconds(exc)
        text, retryable, retry_after = f"Telegram rate limit: retry after {seconds:g} s", True, seconds
    elif isinstance(exc, Forbidden | BadRequest):
        verb = "refused" if isinstance(exc, Forbidden) else "rejected the message"
        text, retryable, retry_after = f"Telegram {verb}: {exc.message}", False, None
    elif isinstance(exc, TimedOut | NetworkError):
        text, retryable, retry_after = f"Telegram unreachable: {exc.message}", True, None
    else:
        text, retryable, retry_after = f"Telegram error: {exc.message}", True, None
    return DeliveryError(text, retryable=retryable, retry_after=retry_after, parts_sent=parts_sent)


def _seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that retry_after becomes a timedelta; accept both without the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def text_parts(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 code units (how Telegram counts), each cut at
    the last paragraph break in its second half, else line break, else space, else anywhere."""
    parts = []
    while _utf16_length(text) > limit:
        head = text[:limit]
        while _utf16_length(head) > limit:  # characters outside the BMP count twice
            head = head[: len(head) - (_utf16_length(head) - limit + 1) // 2]
        cut = _cut(head)
        parts.append(head[:cut].rstrip())
        text = text[cut:].lstrip()
    # Telegram refuses an empty message: whitespace at a cut goes with it.
    return [part for part in (*parts, text) if part.strip()] or [text]


def _cut(head: str) -> int:
    for separator in ("\n\n", "\n", " "):
        if (at := head.rfind(separator)) >= len(head) // 2:
            return at + len(separator)
    return len(head)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class TelegramSender:
    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, message: OutboundMessage) -> str | None:
        """A text longer than Telegram takes goes as several messages, in order, then each
        attachment as a document; a retry sends only the parts not yet delivered. Returns the
        last part's id."""
        chat_id = message.route["chat_id"]
        texts = text_parts(message.text, MAX_TEXT) if message.text.strip() else []
        parts = [*texts, *message.attachments]
        last_id = None
        for number in range(message.parts_sent, len(parts)):
            part = parts[number]
            try:
                sent = (
                    await self._bot.send_message(chat_id=chat_id, text=part)
                    if isinstance(part, str)
                    else await self._bot.send_document(
                        chat_id=chat_id, document=part.content or b"", filename=part.name
                    )
                )
            except TelegramError as exc:
                raise _delivery_error(exc, parts_sent=number) from exc
            last_id = sent.message_id
        return f"{chat_id}:{last_id}" if last_id is not None else None
