"""The unified inbox: list, read, reply, note, assign, change status/priority/labels."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels.base import MAX_FILES_PER_MESSAGE, AttachmentPolicy
from crm_core.conversations import ConversationFilter
from crm_core.conversations.uploads import PURPOSES, file_name
from crm_core.vocabularies import ALL_STAFF, INBOX_WORKERS, MANAGERS, ApiScope, ConversationStatus, Priority
from hub.api.cursors import decode_cursor
from hub.api.downloads import attachment_response, read_capped
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok, page, whole_number
from hub.channel_plugins import CHANNELS
from nlp.labels import INTENTS

routes = RouteTable()

LIST_PARAMS = (
    QueryParam("status", "open, pending, snoozed or resolved; several separated by commas"),
    QueryParam("channel", ", ".join(CHANNELS)),
    QueryParam("assignee", "a user id, `me` or `none`"),
    QueryParam("intent", "the last NLP intent"),
    QueryParam("label", "one label"),
    QueryParam("priority", "low, medium, high or urgent; several separated by commas"),
    QueryParam("contact_id", "one contact's conversations"),
    QueryParam("q", "words found (by prefix) in messages or the contact's name, email or phone"),
    QueryParam("limit", "1-100, default 25", "integer"),
    QueryParam("cursor", "`next_cursor` from the previous page"),
)


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(default="", max_length=65536, description="may be empty when files are attached")
    private: bool = False
    mentions: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list,
        max_length=20,
        description="a note's mentioned colleagues (user ids): each is notified",
    )
    attachments: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list,
        max_length=MAX_FILES_PER_MESSAGE,
        description="ids of your uploads to this conversation (POST .../attachments), sent with it",
    )

    @model_validator(mode="after")
    def says_something(self) -> ReplyBody:
        if not self.text.strip() and not self.attachments:
            raise ValueError("a message needs text or at least one attachment")
        return self


# A note's files stay in the hub: any everyday file.
NOTE_FILES = AttachmentPolicy(max_bytes=5 * 1024 * 1024)


class ConversationChangesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ConversationStatus | None = None
    snoozed_until: datetime | None = None
    assignee_id: str | None = None
    priority: Priority | None = None
    labels: list[str] | None = Field(default=None, max_length=50)


@routes.route("GET", "/api/v1/conversations",
           summary="The inbox: newest activity first, filtered, paginated; each with its contact's "
           "name, emails, phones and company, and its ticket's SLA times.",
           scope=ApiScope.CONVERSATIONS_READ, tag="conversations",
           roles=ALL_STAFF, query=LIST_PARAMS)  # fmt: skip
async def list_conversations(call: Call) -> web.Response:
    where = _filter(call)
    limit, cursor = call.limit(), decode_cursor(call.query("cursor"))
    async with call.searching(where.q):
        items = await call.services.inbox_pages.page(where, call.actor, limit=limit, cursor=cursor)
    return page(items, limit, "last_message_at")


@routes.route("GET", "/api/v1/inbox/counts",
           summary="Conversations per inbox view (mine, unassigned, all) and status.",
           tag="conversations", roles=ALL_STAFF)  # fmt: skip
async def inbox_counts(call: Call) -> web.Response:
    return json_ok(await call.services.inbox_counts.counts(call.actor["_id"]))


@routes.route("GET", "/api/v1/conversations/{id}",
           summary="One conversation with its contact, and what files its replies can carry "
           "(`reply_attachments`: max_bytes, content_types; null when text only).",
           scope=ApiScope.CONVERSATIONS_READ, tag="conversations", roles=ALL_STAFF)  # fmt: skip
async def get_conversation(call: Call) -> web.Response:
    conversation = await call.services.conversations.get(call.path("id"))
    contact = await call.services.contacts.get(conversation["contact_id"])
    plugin = call.services.channels.get(conversation["channel"])
    files = plugin.reply_attachments if plugin else None
    return json_ok({**conversation, "contact": contact, "reply_attachments": files and asdict(files)})


class BulkChangesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=100, description="the conversations to change")
    status: ConversationStatus | None = None
    snoozed_until: datetime | None = None
    assignee_id: str | None = None
    priority: Priority | None = None
    add_labels: list[Annotated[str, Field(max_length=50)]] | None = Field(default=None, max_length=50)


@routes.route("POST", "/api/v1/conversations/bulk",
              summary="One change (status, snooze, assignee, priority, labels added) to up to 100 "
              "conversations: checked first (an unknown conversation or an invalid change changes none "
              "and says which), then made to each, audited each; answers each conversation as it is now.",
              tag="conversations", roles=INBOX_WORKERS, body=BulkChangesBody)  # fmt: skip
async def bulk_update_conversations(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    ids = changes.pop("ids")
    audited = call.audited("conversation.update", "conversation")
    items = await call.services.conversations.update_many(ids, changes, call.actor, audited)
    return json_ok({"items": items})


@routes.route("POST", "/api/v1/conversations/{id}/seen",
           summary="Mark the customer's messages so far as read (the row's unread count, "
           "`inbound_count - seen_inbound_count`, is shared by the team); answers the conversation.",
           tag="conversations", roles=INBOX_WORKERS)  # fmt: skip
async def mark_seen(call: Call) -> web.Response:
    return json_ok(await call.services.conversations.seen(call.path("id")))


@routes.route("GET", "/api/v1/inbox/facets",
           summary="How many conversations each value of a filter (channel, intent, priority, label, "
           "assignee) would show, with the other filters as given: counted over active conversations; "
           "`null` when the status filter includes resolved ones.",
           tag="conversations", roles=ALL_STAFF, query=LIST_PARAMS[:-2])  # fmt: skip
async def inbox_facets(call: Call) -> web.Response:
    where = _filter(call)
    async with call.searching(where.q):
        return json_ok({"facets": await call.services.conversations.facets(where, call.actor["_id"])})


def _filter(call: Call) -> ConversationFilter:
    return ConversationFilter(
        **{
            name: call.query(name)
            for name in ("status", "channel", "assignee", "intent", "label", "priority", "contact_id", "q")
        }
    )


@routes.route("GET", "/api/v1/conversations/{id}/messages", summary="The thread, oldest first, paginated.",
           scope=ApiScope.CONVERSATIONS_READ, tag="conversations", roles=ALL_STAFF,
           query=(QueryParam("limit", "1-200, default 50", "integer"),
                  QueryParam("cursor", "`next_cursor` from the previous page")))  # fmt: skip
async def list_messages(call: Call) -> web.Response:
    limit = call.limit(default=50, maximum=200)
    items = await call.services.conversations.messages(
        call.path("id"), limit=limit, cursor=decode_cursor(call.query("cursor"))
    )
    return page(items, limit, "created_at")


@routes.route("POST", "/api/v1/conversations/{id}/messages",
           summary="Reply through the conversation's channel (delivered by the job queue), "
           "or add a private note with private=true.",
           scope=ApiScope.MESSAGES_SEND, tag="conversations",
           roles=INBOX_WORKERS, body=ReplyBody, ok_status=201)  # fmt: skip
async def post_message(call: Call) -> web.Response:
    body = call.body
    message = await call.services.staff_messages.post(
        call.path("id"),
        body.text,
        call.actor,
        private=body.private,
        mentions=body.mentions,
        upload_ids=body.attachments,
    )
    return json_ok(message, status=201)


@routes.route("POST", "/api/v1/conversations/{id}/attachments",
              summary="Upload a file to send: the body is the file, its Content-Type the file's type, ?name= "
              "its name. For a reply (the default) the conversation's channel decides what it carries "
              "(GET /api/v1/conversations/{id} says: `reply_attachments`); ?purpose=note for a note. A "
              "file too large (413) or of a refused type (415) is refused before its upload ends. Send "
              "the answered id in the message's `attachments`; an upload not sent within a day is removed.",
              tag="conversations", roles=INBOX_WORKERS, raw_body="application/octet-stream", ok_status=201,
              streams_body=True, query=(QueryParam("name", "the file's name (1-200 characters)"),
                     QueryParam("purpose", "reply (default) or note")))  # fmt: skip
async def upload_attachment(call: Call) -> web.Response:
    purpose = call.query("purpose") or "reply"
    if purpose not in PURPOSES:
        raise ApiError(400, "bad_query", "purpose: reply or note")
    name = file_name(call.query("name") or "")
    conversation = await call.services.conversations.get(call.path("id"))
    policy = NOTE_FILES if purpose == "note" else _reply_files(call, conversation["channel"])
    content_type = call.request.content_type
    if not policy.accepts(content_type):
        raise ApiError(415, "file_type_refused", f"{content_type} cannot be sent here; send one of: "
                       f"{', '.join(policy.content_types)}")  # fmt: skip
    try:
        async with asyncio.timeout(call.services.settings.http_body_seconds):
            content = await _file_body(call.request, policy.max_bytes)
    except TimeoutError as exc:
        raise ApiError(408, "body_timeout", "the file took too long to arrive") from exc
    upload = await call.services.conversations.uploads.store(
        conversation,
        call.actor["_id"],
        purpose=purpose,
        name=name,
        content_type=content_type,
        content=content,
    )
    return json_ok(upload, status=201)


def _reply_files(call: Call, channel: str) -> AttachmentPolicy:
    plugin = call.services.channels.get(channel)
    if plugin is None:
        raise ApiError(409, "channel_not_configured", f"{channel} is not set up on this hub: no reply can go")
    if plugin.reply_attachments is None:
        raise ApiError(415, "file_type_refused", f"{channel} replies carry text only")
    return plugin.reply_attachments


async def _file_body(request: web.Request, max_bytes: int) -> bytes:
    """The uploaded file, refused as soon as it is known to be too large: at once when the
    request says its length, else once the bytes read pass the limit."""
    if (request.content_length or 0) > max_bytes:
        raise ApiError(413, "file_too_large", f"a file here may be at most {max_bytes} bytes")
    content = await read_capped(request.content.read, max_bytes, "a file here")
    if not content:
        raise ApiError(400, "empty_file", "the file is empty")
    return bytes(content)


@routes.route("PATCH", "/api/v1/conversations/{id}", summary="Change status, assignee, priority or labels.",
           tag="conversations", roles=INBOX_WORKERS, body=ConversationChangesBody)  # fmt: skip
async def update_conversation(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    audited = call.audited("conversation.update", "conversation")
    conversation, _ = await call.services.conversations.update(call.path("id"), changes, call.actor, audited)
    return json_ok(conversation)


@routes.route(
    "GET",
    "/api/v1/messages/{id}/attachments/{index}",
    summary="Download an attachment's stored bytes.",
    tag="conversations",
    roles=ALL_STAFF,
)
async def download_attachment(call: Call) -> web.Response:
    index = whole_number(call.path("index"))
    if index is None:
        raise ApiError(404, "not_found", f"no attachment {call.path('index')!r}")
    attachment = await call.services.conversations.attachment(call.path("id"), index)
    return attachment_response(attachment)


class IntentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: str = Field(min_length=1, max_length=40, description=f"one of: {', '.join(INTENTS)}")


@routes.route("PUT", "/api/v1/messages/{id}/intent",
           summary="Review a classified inbound message's intent: the same as the model's counts as "
           "agreement (live accuracy); another one corrects it, routes the message again (un-spamming "
           "reopens the conversation and opens the ticket; a sales intent creates the lead), is audited "
           "and is used by the next `python -m nlp train`.",
           tag="conversations", roles=ALL_STAFF, body=IntentBody)  # fmt: skip
async def review_intent(call: Call) -> web.Response:
    return json_ok(await call.services.intent_reviewing.review(call.path("id"), call.body.intent, call.actor))


@routes.route("GET", "/api/v1/nlp/corrections",
           summary="Every intent correction agents made (text, their intent, the model's): the input "
           "of `python -m nlp train --corrections`.",
           tag="reports", roles=MANAGERS)  # fmt: skip
async def list_corrections(call: Call) -> web.Response:
    return json_ok({"items": await call.services.intent_reviews.corrections()})
