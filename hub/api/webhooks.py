"""Channel ingress: each webhook verifies its own secret first, then hands off to the pipeline."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from channels import chat, email, telegram
from channels.base import InboundMessage, PayloadError, parse_json, same_secret
from hub.api.errors import ApiError
from hub.api.routing import Call, api, json_ok


@api.route(
    "POST",
    "/webhooks/chat",
    summary="Generic chat/API channel: one inbound customer message. Signed with "
    "X-Hub-Signature-256 (HMAC-SHA256 of the raw body with HUB_CHAT_SECRET). "
    "201 when stored, 200 with duplicate=true for a redelivery.",
    tag="webhooks",
    roles=None,
    body=chat.ChatPayload,
    raw_body="application/json",
    ok_status=201,
)
async def chat_webhook(call: Call) -> web.Response:
    secret = call.services.settings.chat_secret
    if not secret:
        raise ApiError(404, "channel_disabled", "the chat channel is off (HUB_CHAT_SECRET is not set)")
    body = await call.request.read()
    chat.verify(secret, body, call.request.headers.get(chat.SIGNATURE_HEADER))
    try:
        message = chat.parse(body)
    except PayloadError:
        call.services.metrics.ingested.labels(chat.CHANNEL, "rejected").inc()
        raise
    return await _acknowledge(call, message)


@api.route(
    "POST",
    "/webhooks/email",
    summary="Email forwarded by HTTP: one raw RFC 5322 message, signed with X-Hub-Signature-256 "
    "(HMAC-SHA256 of the raw body with HUB_EMAIL_WEBHOOK_SECRET, else HUB_CHAT_SECRET). "
    "201 when stored, 200 with duplicate=true for a redelivery (same Message-ID).",
    tag="webhooks",
    roles=None,
    raw_body="message/rfc822",
    ok_status=201,
)
async def email_webhook(call: Call) -> web.Response:
    settings = call.services.settings
    if not settings.email_secret:
        raise ApiError(404, "channel_disabled", "the email webhook is off (no HUB_EMAIL_WEBHOOK_SECRET)")
    body = await call.request.read()
    email.verify(settings.email_secret, body, call.request.headers.get(email.SIGNATURE_HEADER))
    if not body.strip():
        raise PayloadError("the body must be a raw RFC 5322 message")
    return await _acknowledge(
        call, email.parse(body, max_attachment_bytes=settings.email_max_attachment_bytes)
    )


@api.route(
    "POST",
    "/webhooks/telegram",
    summary="Telegram Bot API updates (webhook mode). Checked against X-Telegram-Bot-Api-Secret-Token "
    "(HUB_TELEGRAM_SECRET); 403 otherwise.",
    tag="webhooks",
    roles=None,
    raw_body="application/json",
)
async def telegram_webhook(call: Call) -> web.Response:
    settings, bot = call.services.settings, call.services.telegram
    if bot is None or not settings.telegram_secret:
        raise ApiError(
            404, "channel_disabled", "Telegram is off (HUB_TELEGRAM_TOKEN/HUB_TELEGRAM_SECRET unset)"
        )
    given = call.request.headers.get(telegram.SECRET_HEADER, "")
    if not same_secret(settings.telegram_secret, given):
        raise ApiError(403, "bad_secret", "missing or wrong X-Telegram-Bot-Api-Secret-Token")
    update = parse_json(await call.request.read())
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise PayloadError("update_id: an update needs an integer update_id")
    await bot.process(update)
    return json_ok({"ok": True})


@api.route(
    "POST",
    "/webhooks/slack/events",
    summary="Slack Events API, signed with HUB_SLACK_SIGNING_SECRET (401 on a bad or stale signature; "
    "url_verification answered).",
    tag="webhooks",
    roles=None,
    raw_body="application/json",
)
async def slack_events(call: Call) -> web.StreamResponse:
    return await _slack(call)


@api.route(
    "POST",
    "/webhooks/slack/commands",
    summary="Slack slash commands (`/hub stats today`, `/hub link CODE`), signed like events.",
    tag="webhooks",
    roles=None,
    raw_body="application/x-www-form-urlencoded",
)
async def slack_commands(call: Call) -> web.StreamResponse:
    return await _slack(call)


async def _slack(call: Call) -> web.StreamResponse:
    bot = call.services.slack
    if bot is None:
        raise ApiError(
            404, "channel_disabled", "Slack is off (HUB_SLACK_BOT_TOKEN/HUB_SLACK_SIGNING_SECRET unset)"
        )
    response = await bot.app.async_dispatch(await to_bolt_request(call.request))
    if response.status == 401:
        raise ApiError(401, "bad_signature", "missing, wrong or stale Slack signature")
    return await to_aiohttp_response(response)


async def _acknowledge(call: Call, message: InboundMessage) -> web.Response:
    stored = await call.services.pipeline.ingest(message)
    return json_ok(
        {
            "id": stored.message_id,
            "conversation_id": stored.conversation_id,
            "contact_id": stored.contact_id,
            "duplicate": stored.duplicate,
        },
        status=200 if stored.duplicate else 201,
    )
