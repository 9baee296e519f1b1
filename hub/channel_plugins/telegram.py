"""Telegram: the bot inside the hub, python-telegram-bot in webhook mode (no updater), its
updates fed by `POST /webhooks/telegram` through `Application.process_update`; staff who
linked their account run commands in it; `python -m hub telegram set-webhook` registers it."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bots.commands import Commands
from channels import telegram
from channels.base import InboundMessage, PayloadError, parse_json, same_secret
from crm_core.conversations import Conversations
from crm_core.users import Users
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import Call, json_ok
from hub.channel_plugins.contract import ChannelContext, ChannelPlugin
from hub.channel_plugins.serving import running
from hub.pipeline import Pipeline
from hub.settings import Settings

log = logging.getLogger(__name__)
GREETING = "Hi! Write your question here and our team will answer in this chat."


class TelegramBot:
    def __init__(
        self, application: Application, pipeline: Pipeline, conversations: Conversations, users: Users,
        commands: Commands,
    ) -> None:  # fmt: skip
        self.application = application
        self._pipeline = pipeline
        self._conversations = conversations
        self._users = users
        self._commands = commands
        self._failures: dict[int, BaseException] = {}
        application.add_handler(TypeHandler(Update, self._on_update))

    async def start(self) -> None:
        await self.application.initialize()  # calls getMe: checks the token
        await self.application.start()

    async def stop(self) -> None:
        await self.application.stop()
        await self.application.shutdown()

    async def process(self, data: dict[str, Any]) -> None:
        """Handle one webhook update; raises when it could not be stored, so Telegram retries."""
        update = Update.de_json(data, self.application.bot)
        await self.application.process_update(update)
        failure = self._failures.pop(update.update_id, None)
        if failure is not None:
            raise failure

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # PTB hands handler errors to error handlers and carries on; we need them in the webhook
        # response instead, so that an update we failed to store is delivered again.
        try:
            await self._handle(telegram.parse(update))
        except Exception as exc:  # re-raised by process()
            self._failures[update.update_id] = exc

    async def _handle(self, event: InboundMessage | telegram.Edit | telegram.CommandText | None) -> None:
        if isinstance(event, InboundMessage):
            await self._pipeline.ingest(event)
        elif isinstance(event, telegram.Edit):
            await self._conversations.edit_inbound(telegram.CHANNEL, event.external_id, event.text)
        elif isinstance(event, telegram.CommandText):
            await self._command(event)

    async def _command(self, event: telegram.CommandText) -> None:
        bot = self.application.bot
        word, _, argument = event.text.partition(" ")
        word = word.split("@")[0].lower()
        if word == "/start":
            await bot.send_message(chat_id=event.chat_id, text=GREETING)
            return
        if word == "/link":
            user = await self._users.redeem_link_code(argument, telegram.CHANNEL, event.user_id)
            text = (f"Linked to {user['email']}. Try /stats today." if user
                    else "That code is unknown or expired. Get a new one from the hub.")  # fmt: skip
            await bot.send_message(chat_id=event.chat_id, text=text)
            return
        staff = await self._users.linked(telegram.CHANNEL, event.user_id)
        reply = await self._commands.handle(event.text, staff)
        if reply.chart is not None:
            await bot.send_photo(chat_id=event.chat_id, photo=reply.chart)
        await bot.send_message(chat_id=event.chat_id, text=reply.text)


class TelegramChannel(ChannelPlugin):
    name = telegram.CHANNEL
    settings_hint = "HUB_TELEGRAM_TOKEN/HUB_TELEGRAM_SECRET unset"
    routes = RouteTable()
    reply_attachments = telegram.REPLY_ATTACHMENTS

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        settings = context.settings
        application = telegram.build_application(settings.telegram_token or "", settings.telegram_api_url)
        self.secret = settings.telegram_secret
        self.bot = TelegramBot(
            application, context.pipeline, context.conversations, context.users, context.commands
        )
        self.sender = telegram.TelegramSender(application.bot)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.telegram_token)

    async def start(self) -> None:
        """Checks the token with Telegram (getMe). When Telegram cannot be reached the hub
        serves on; the next update tries again."""
        try:
            await self.bot.start()
        except TelegramError as exc:
            self.problem = f"{exc.__class__.__name__}: {exc}"
            log.error("Telegram bot could not start", extra={"error": self.problem})
        else:
            self.problem = None

    async def stop(self) -> None:
        await self.bot.stop()

    @classmethod
    def add_commands(cls, commands: argparse._SubParsersAction) -> None:
        tg = commands.add_parser("telegram", help="Telegram bot set-up")
        tg_commands = tg.add_subparsers(dest="telegram_command", required=True)
        webhook = tg_commands.add_parser("set-webhook", help="register this hub's webhook (with its secret)")
        webhook.add_argument("--url", required=True, help="public https URL of POST /webhooks/telegram")

    @classmethod
    async def run_command(cls, settings: Settings, args: argparse.Namespace) -> int:
        if not (settings.telegram_token and settings.telegram_secret):
            print("hub: set HUB_TELEGRAM_TOKEN and HUB_TELEGRAM_SECRET first", file=sys.stderr)
            return 2
        application = telegram.build_application(settings.telegram_token, settings.telegram_api_url)
        async with application:
            await application.bot.set_webhook(
                url=args.url,
                secret_token=settings.telegram_secret,
                allowed_updates=["message", "edited_message"],
            )
        print(f"Telegram will deliver updates to {args.url}")
        return 0


@TelegramChannel.routes.route(
    "POST",
    "/webhooks/telegram",
    summary="Telegram Bot API updates (webhook mode). Checked against X-Telegram-Bot-Api-Secret-Token "
    "(HUB_TELEGRAM_SECRET); 403 otherwise.",
    tag="webhooks",
    roles=None,
    raw_body="application/json",
)
async def telegram_webhook(call: Call) -> web.Response:
    channel = running(call, TelegramChannel)
    if not channel.secret:
        raise ApiError(404, "channel_disabled", f"the telegram channel is off ({channel.settings_hint})")
    if not same_secret(channel.secret, call.request.headers.get(telegram.SECRET_HEADER, "")):
        raise ApiError(403, "bad_secret", "missing or wrong X-Telegram-Bot-Api-Secret-Token")
    update = parse_json(await call.request.read())
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise PayloadError("update_id: an update needs an integer update_id")
    if channel.problem is not None:
        await channel.start()
        if channel.problem is not None:
            raise ApiError(503, "channel_unavailable", "Telegram cannot be reached; the update is retried")
    await channel.bot.process(update)
    return json_ok({"ok": True})
