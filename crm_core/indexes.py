"""Every index the hub relies on, created idempotently at start-up."""

from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

INDEXES: dict[str, list[IndexModel]] = {
    "messages": [
        # Dedupe: a redelivered message hits this index and is not stored twice.
        IndexModel(
            [("channel", ASC), ("external_id", ASC)],
            name="channel_external_id",
            unique=True,
            partialFilterExpression={"external_id": {"$type": "string"}},
        ),
        # Look-ups by external id (dedupe checks, email threading): some servers (the embedded
        # one) never use a partial index to answer a query, and would scan every message. The
        # key order differs from the unique index's because MongoDB allows one index per pattern.
        IndexModel([("external_id", ASC), ("channel", ASC)], name="by_external_id"),
        IndexModel([("conversation_id", ASC), ("created_at", ASC), ("_id", ASC)], name="thread"),
        IndexModel([("contact_id", ASC), ("created_at", DESC)], name="contact_history"),
        # Word search: each term's messages newest first, so a search reads the newest.
        IndexModel([("terms", ASC), ("_id", DESC)], name="terms_newest"),
        IndexModel([("nlp.status", ASC), ("created_at", ASC)], name="nlp_pending"),
        IndexModel([("campaign.id", ASC)], name="campaign_messages", sparse=True),
    ],
    "events": [
        # Each listener's backlog, oldest first.
        IndexModel([("pending", ASC), ("_id", ASC)], name="pending"),
        IndexModel([("type", ASC), ("_id", ASC)], name="by_type"),
    ],
    "rollups": [IndexModel([("kind", ASC), ("start", ASC)], name="period")],
    "conversations": [
        IndexModel([("channel", ASC), ("thread_key", ASC)], name="channel_thread", unique=True),
        IndexModel([("last_message_at", DESC), ("_id", DESC)], name="inbox"),
        IndexModel([("status", ASC), ("last_message_at", DESC), ("_id", DESC)], name="inbox_status"),
        IndexModel([("assignee_id", ASC), ("last_message_at", DESC), ("_id", DESC)], name="inbox_assignee"),
        IndexModel([("labels", ASC), ("last_message_at", DESC)], name="inbox_label"),
        IndexModel([("contact_id", ASC), ("last_message_at", DESC)], name="contact_conversations"),
        IndexModel([("created_at", ASC)], name="reports_created"),  # the CSV export
        IndexModel([("mirrors.slack", ASC)], name="slack_mirror", sparse=True),
    ],
    "contacts": [
        # One contact per channel identity. The external id leads: MongoDB bounds a query on two
        # fields of one array's elements by the leading field alone (both only under $elemMatch,
        # which the embedded server never serves from an index), and the external id is the
        # selective one: led by the channel, finding a sender scanned every identity on it.
        IndexModel(
            [("identities.external_id", ASC), ("identities.channel", ASC)],
            name="identity_by_external_id",
            unique=True,
            sparse=True,
        ),
        IndexModel([("emails", ASC)], name="emails"),
        IndexModel([("phones", ASC)], name="phones"),
        IndexModel([("tier", ASC), ("updated_at", DESC)], name="tier"),  # a tier's contacts
        IndexModel([("purchases.count", ASC)], name="buyers"),  # the recompute's customer base
        IndexModel([("terms", ASC), ("_id", DESC)], name="terms_newest"),
        IndexModel([("updated_at", DESC), ("_id", DESC)], name="recent"),
    ],
    "users": [
        IndexModel([("email", ASC)], name="email", unique=True),
        IndexModel([("links.telegram", ASC)], name="telegram_link", sparse=True),
        IndexModel([("links.slack", ASC)], name="slack_link", sparse=True),
    ],
    "api_tokens": [
        IndexModel([("token_hash", ASC)], name="token_hash", unique=True),
        IndexModel([("expires_at", ASC)], name="expiry", expireAfterSeconds=0),
    ],
    "presence": [IndexModel([("expires_at", ASC)], name="expiry", expireAfterSeconds=0)],
    "webhook_deliveries": [
        IndexModel([("endpoint_id", ASC), ("at", DESC)], name="endpoint_newest"),
        IndexModel([("expires_at", ASC)], name="expiry", expireAfterSeconds=0),
    ],
    "uploads": [
        IndexModel([("contact_id", ASC)], name="contact"),
        # An upload no message claimed is removed; a claimed one has no expires_at.
        IndexModel([("expires_at", ASC)], name="expiry", expireAfterSeconds=0),
    ],
    "api_keys": [IndexModel([("key_hash", ASC)], name="key_hash", unique=True)],
    "link_codes": [
        IndexModel([("code_hash", ASC)], name="code_hash", unique=True),
        IndexModel([("expires_at", ASC)], name="expiry", expireAfterSeconds=0),
    ],
    "tickets": [
        # One open ticket per conversation; later support messages join it.
        IndexModel(
            [("conversation_id", ASC)],
            name="open_per_conversation",
            unique=True,
            partialFilterExpression={"open": True},
        ),
        IndexModel([("created_at", DESC), ("_id", DESC)], name="recent"),
        IndexModel([("assignee_id", ASC), ("open", ASC)], name="assignee_load"),
        IndexModel([("contact_id", ASC)], name="contact"),
        # The SLA watch: open tickets by due time.
        IndexModel([("open", ASC), ("sla.first_response_due", ASC)], name="first_response_due"),
        IndexModel([("open", ASC), ("sla.resolution_due", ASC)], name="resolution_due"),
    ],
    "leads": [
        IndexModel(
            [("contact_id", ASC)],
            name="open_per_contact",
            unique=True,
            partialFilterExpression={"open": True},
        ),
        IndexModel([("created_at", DESC), ("_id", DESC)], name="recent"),
        IndexModel([("owner_id", ASC), ("open", ASC)], name="owner_load"),
        IndexModel([("contact_id", ASC)], name="contact"),
    ],
    "deals": [
        IndexModel([("created_at", DESC), ("_id", DESC)], name="recent"),
        IndexModel([("contact_id", ASC)], name="contact"),
    ],
    "intent_reviews": [
        IndexModel([("message_id", ASC)], name="one_per_message", unique=True),
        IndexModel([("at", ASC)], name="recent"),
        IndexModel([("agreed", ASC), ("at", ASC)], name="corrections"),
    ],
    "campaigns": [IndexModel([("key", ASC)], name="key", unique=True)],
    "enrolments": [
        IndexModel([("campaign_id", ASC), ("contact_id", ASC)], name="once_per_contact", unique=True),
        IndexModel([("status", ASC), ("next_at", ASC)], name="due"),
        IndexModel([("contact_id", ASC), ("status", ASC)], name="contact"),
    ],
    "notifications": [IndexModel([("user_id", ASC), ("created_at", DESC)], name="recipient")],
    "orders": [
        # One order per source and number: a shop sending it again updates it.
        IndexModel([("source", ASC), ("number", ASC)], name="source_number", unique=True),
        IndexModel([("number", ASC)], name="number"),
        IndexModel([("contact_id", ASC), ("placed_at", DESC)], name="contact_orders"),
        IndexModel([("items.sku", ASC)], name="sku"),  # segments: who bought a product
    ],
    "points": [
        # Each order earns (and gives back) its points once.
        IndexModel(
            [("key", ASC)],
            name="order_step",
            unique=True,
            partialFilterExpression={"key": {"$type": "string"}},
        ),
        IndexModel([("contact_id", ASC), ("at", DESC)], name="contact_ledger"),
    ],
    "coupons": [
        IndexModel([("code", ASC)], name="code", unique=True),
        IndexModel([("contact_id", ASC), ("created_at", DESC)], name="contact_coupons"),
    ],
    "jobs": [
        IndexModel([("status", ASC), ("next_attempt_at", ASC)], name="due"),
        IndexModel([("status", ASC), ("created_at", DESC)], name="by_status"),
    ],
    "audit": [IndexModel([("target_type", ASC), ("target_id", ASC), ("at", DESC)], name="target")],
}


# Indexes earlier versions created that nothing reads any more (the reports read roll-ups;
# `contact_conversations` serves the subject threading and `inbox_status` the waiting list;
# `identity_by_external_id` replaced `identity`, `terms_newest` replaced `terms`): each still
# cost every write of its collection, so start-up drops them.
RETIRED: dict[str, tuple[str, ...]] = {
    "contacts": ("identity", "terms"),
    "messages": ("reports_period", "terms"),
    "conversations": ("reports_resolved", "reports_first_response", "sla_waiting", "subject_thread"),
}


async def ensure_indexes(db: AsyncDatabase) -> None:
    for collection, models in INDEXES.items():
        await db[collection].create_indexes(models)
    for collection, names in RETIRED.items():
        existing = await db[collection].index_information()
        for name in set(names) & set(existing):
            await db[collection].drop_index(name)
