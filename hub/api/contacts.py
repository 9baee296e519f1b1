"""Contacts: one profile per customer across channels; list, search, edit, merge."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from channels.base import MAX_SAFE_INTEGER
from crm_core.contacts import Consent
from crm_core.vocabularies import ADMINS, ALL_STAFF, INBOX_WORKERS, ApiScope
from hub.api.cursors import decode_cursor
from hub.api.downloads import download_headers
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok, page
from hub.jsonable import jsonable

routes = RouteTable()

# Attribute names become field names in the database: no "$" first, no ".", no NUL.
AttributeName = Annotated[str, StringConstraints(pattern=r"^[^$.\x00][^.\x00]{0,63}$")]
AttributeValue = (
    Annotated[str, StringConstraints(max_length=2000)]
    | bool
    | Annotated[int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
    | Annotated[float, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER, allow_inf_nan=False)]
    | None
)


class ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    emails: list[str] | None = Field(default=None, max_length=20)
    phones: list[str] | None = Field(default=None, max_length=20)
    company: str | None = Field(default=None, max_length=200)
    attributes: dict[AttributeName, AttributeValue] | None = Field(
        default=None, max_length=100, description="plan, tier and the like: text, numbers, true/false"
    )


class ContactChanges(ContactFields):
    marketing_consent: bool | None = Field(default=None, description="opt in or out of campaigns")


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_id: str = Field(min_length=1, max_length=64)


@routes.route("GET", "/api/v1/contacts", summary="Contacts, most recently changed first; q searches name, "
           "company, email and phone by prefix.",
           scope=ApiScope.CONTACTS_READ, tag="contacts", roles=ALL_STAFF,
           query=(QueryParam("q", "words to search"), QueryParam("tier", "a customer tier's name"),
                  QueryParam("limit", "1-100, default 25", "integer"),
                  QueryParam("cursor", "`next_cursor` from the previous page")))  # fmt: skip
async def list_contacts(call: Call) -> web.Response:
    limit, cursor, q = call.limit(), decode_cursor(call.query("cursor")), call.query("q")
    async with call.searching(q):
        items = await call.services.contacts.list(q=q, tier=call.query("tier"), limit=limit, cursor=cursor)
    return page(items, limit, "updated_at")


@routes.route("POST", "/api/v1/contacts", summary="Create a contact.",
           scope=ApiScope.CONTACTS_WRITE, tag="contacts", roles=INBOX_WORKERS,
           body=ContactFields, ok_status=201)  # fmt: skip
async def create_contact(call: Call) -> web.Response:
    audited = call.audited("contact.create", "contact")
    contact = await call.services.contacts.create(_fields(call.body), audited)
    return json_ok(contact, status=201)


@routes.route("GET", "/api/v1/contacts/{id}", summary="One contact with its identities on every channel, its "
           "RFM scores (1-5, 5 best; null before any order), tier and membership {level, points}.",
           scope=ApiScope.CONTACTS_READ, tag="contacts", roles=ALL_STAFF)  # fmt: skip
async def get_contact(call: Call) -> web.Response:
    return json_ok(
        await call.services.customer_value.shown(await call.services.contacts.get(call.path("id")))
    )


@routes.route("GET", "/api/v1/contacts/{id}/relationship", summary="The customer's whole relationship, "
           "newest first: conversations on every channel, tickets, leads, deals and campaign enrolments "
           "(also the preview of what a merge moves).",
           scope=ApiScope.CONTACTS_READ, tag="contacts", roles=ALL_STAFF)  # fmt: skip
async def contact_relationship(call: Call) -> web.Response:
    return json_ok(await call.services.contacts.relationship(call.path("id")))


@routes.route("PATCH", "/api/v1/contacts/{id}", summary="Edit name, emails, phones, company, attributes or "
           "marketing consent.",
           scope=ApiScope.CONTACTS_WRITE, tag="contacts", roles=ALL_STAFF, body=ContactChanges)  # fmt: skip
async def update_contact(call: Call) -> web.Response:
    fields = _fields(call.body)
    marketing = fields.pop("marketing_consent", None)
    consent = None if marketing is None else Consent(marketing, source=f"staff:{call.actor['email']}")
    audited = call.audited("contact.update", "contact")
    contact, _ = await call.services.contacts.update(call.path("id"), fields, consent=consent,
                                                     audited=audited)  # fmt: skip
    return json_ok(contact)


@routes.route("POST", "/api/v1/contacts/{id}/merge", summary="Merge other_id into this contact: identities, "
           "emails, phones, conversations and messages move over; the other records merged_into.",
           tag="contacts", roles=INBOX_WORKERS, body=MergeBody)  # fmt: skip
async def merge_contacts(call: Call) -> web.Response:
    audited = call.audited("contact.merge", "contact")
    contact = await call.services.contacts.merge(call.path("id"), call.body.other_id, call.actor, audited)
    return json_ok(contact)


def _fields(body: ContactFields) -> dict[str, Any]:
    """Only what the client sent; an explicit null list means an empty one."""
    fields = body.model_dump(exclude_unset=True)
    for key in ("emails", "phones"):
        if key in fields and fields[key] is None:
            fields[key] = []
    if "attributes" in fields and fields["attributes"] is None:
        fields["attributes"] = {}
    return fields


class EraseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str = Field(max_length=40, description="the contact's id, again: which customer is erased")


@routes.route("GET", "/api/v1/contacts/{id}/export",
           summary="Everything the hub holds about one customer, as a zip: contact.json (the profile, "
           "identities, conversations and messages, tickets, leads, deals, campaign history, consent and "
           "its changes, and what else a contact owns) and their files under attachments/ and uploads/.",
           scope=ApiScope.CONTACTS_EXPORT, tag="contacts", roles=ADMINS)  # fmt: skip
async def export_contact(call: Call) -> web.Response:
    data, files = await call.services.customer_data.export(call.path("id"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("contact.json", json.dumps(jsonable(data), indent=1, ensure_ascii=False))
        for name, content in files:
            out.writestr(name, content)
    headers = download_headers(f"contact-{call.path('id')}.zip")
    return web.Response(body=archive.getvalue(), content_type="application/zip", headers=headers)


@routes.route("POST", "/api/v1/contacts/{id}/erase",
           summary="Erase a customer (confirm: their id): the profile's personal data and identities, their "
           "conversations, messages and files, campaign history, queued messages to them and notifications "
           "quoting them; tickets, leads and deals stay without their words; report figures stay; audited.",
           scope=ApiScope.CONTACTS_ERASE, tag="contacts", roles=ADMINS, body=EraseBody)  # fmt: skip
async def erase_contact(call: Call) -> web.Response:
    audited = call.audited("contact.erase", "contact")
    erased = await call.services.customer_data.erase(call.path("id"), call.body.confirm, audited)
    return json_ok({"erased": erased})
