"""The Telegram bot inside the hub: python-telegram-bot in webhook mode (no updater), its
updates fed by `POST /webhooks/telegram` through `Application.process_update`."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bots.commands import Commands
from channels import telegram
from channels.base import InboundMessage
from crm_core.conversations import Conversations
from crm_core.users import Users
from hub.pipeline import Pipeline

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
