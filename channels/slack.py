"""Slack through slack-bolt: direct messages from people outside the staff are customer
conversations; replies go back with chat.postMessage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import (
    Attachment,
    DeliveryError,
    InboundMessage,
    OutboundMessage,
    PayloadError,
    Sender,
    SignatureError,
    parse_json,
)

CHANNEL = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
_IGNORED_SUBTYPES = {"message_changed", "message_deleted", "bot_message", "channel_join", "channel_leave"}
_PERMANENT_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
                     "msg_too_long", "no_text", "cannot_dm_bot", "user_not_found"}  # fmt: skip


def build_app(signing_secret: str, bot_token: str, api_url: str | None) -> AsyncApp:
    """Bolt verifies every request's signature (401 otherwise) and answers url_verification.
    Listeners run before the HTTP response, so nothing is acknowledged before it is stored."""
    client = AsyncWebClient(token=bot_token, base_url=api_url or DEFAULT_API_URL)
    return AsyncApp(signing_secret=signing_secret, client=client, process_before_response=True)


def verified_body(signing_secret: str, body: bytes, headers: Mapping[str, str], *, json: bool) -> str:
    """The text of a request Slack signed, checked before anything reads it: a signature over
    the body that is recent (five minutes), then a JSON body must be an object. Slack signs
    UTF-8 text: other bytes cannot carry its signature."""
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise SignatureError("the body is not UTF-8 text, which is all Slack signs") from exc
    if not SignatureVerifier(signing_secret).is_valid_request(text, dict(headers)):
        raise SignatureError("missing, wrong or stale Slack signature")
    if json and not isinstance(parse_json(body), dict):
        raise PayloadError("body: a JSON object expected")
    return text


def escaped(text: str) -> str:
    """Text that Slack shows as written. Slack reads `<...>` as markup: `<!channel>` notifies
    everyone in a channel and `<https://…|Your bank>` is a link under any label, so what
    customers or agents typed is sent with `&`, `<` and `>` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def typed(text: str) -> str:
    """What a Slack user typed, as plain text for the hub and other channels. Slack sends a
    pasted link as `<https://…>` (`<https://…|label>` when it has a label), mentions as
    `<@U123|name>`, `<#C123|name>` or `<!here>`, and the user's own `&`, `<` and `>` as entities."""
    return _ENTITY.sub(lambda m: _ENTITIES[m[0]], _MARKUP.sub(_plain, text))


_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp);")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def _plain(markup: re.Match[str]) -> str:
    target, _, label = markup[1].partition("|")
    if target.startswith(("@", "#")):  # a user or a channel
        return target[0] + (label or target[1:])
    if target.startswith("!"):  # @here, @channel, a user group (label "@team"), a date (its fallback)
        return label or "@" + target[1:]
    address = target.removeprefix("mailto:")
    return address if label in ("", address) else f"{label} ({address})"


def event_time(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(float(event.get("ts", "")), UTC)
    except ValueError:
        return datetime.now(UTC)


def is_customer_dm(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im"
        and not event.get("bot_id")
        and event.get("subtype") not in _IGNORED_SUBTYPES
        and bool(event.get("user"))
    )


def parse_dm(event: dict[str, Any], *, name: str | None, email: str | None) -> InboundMessage:
    files = event.get("files") or []
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"{event['channel']}:{event['ts']}",
        thread_key=f"dm:{event['channel']}",
        sender=Sender(external_id=event["user"], name=name, email=email),
        text=typed(event.get("text") or ""),
        sent_at=event_time(event),
        attachments=tuple(
            Attachment(
                name=f.get("name") or "file",
                content_type=f.get("mimetype"),
                size=f.get("size"),
                url=f.get("url_private"),
            )
            for f in files
        ),
        route={"channel": event["channel"]},
    )


async def post(client: AsyncWebClient, channel: str, text: str, thread_ts: str | None = None) -> str:
    """chat.postMessage with errors turned into delivery outcomes; returns the message ts."""
    try:
        response = await client.chat_postMessage(channel=channel, text=text, thread_ts=thread_ts)
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error")
        retry_after = exc.response.headers.get("Retry-After") if exc.response.status_code == 429 else None
        raise DeliveryError(
            f"Slack error: {error}",
            retryable=error not in _PERMANENT_ERRORS,
            retry_after=float(retry_after) if retry_after else None,
        ) from exc
    except OSError as exc:
        raise DeliveryError(f"Slack unreachable: {exc.__class__.__name__}", retryable=True) from exc
    return str(response["ts"])


class SlackSender:
    channel = CHANNEL

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, message: OutboundMessage) -> str | None:
        if (staff := message.route.get("staff")) is not None:
            channel = staff["slack_user"] or await self._user_by_email(staff["email"])
        else:
            channel = message.route["channel"]
        return f"{channel}:{await post(self._client, channel, escaped(message.text))}"

    async def _user_by_email(self, email: str) -> str:
        try:
            found = await self._client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            raise DeliveryError(f"Slack error: {error}", retryable=error != "users_not_found") from exc
        except OSError as exc:
            raise DeliveryError(f"Slack unreachable: {exc.__class__.__name__}", retryable=True) from exc
        user = found.get("user") or {}
        return str(user["id"])
