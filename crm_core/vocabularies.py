"""The vocabularies every layer shares, each defined here once as an enum; the tuples, the
role groups and the API's schemas derive from them (the channels are the registry's:
hub.channel_plugins; the intents the classifier's: nlp.labels). Members are strings, so a
value read from the database or a request compares equal to its member."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    SALES = "sales"
    MANAGER = "manager"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class SlaTarget(StrEnum):
    """The two times a ticket's SLA promises: its first response and its resolution."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class LeadStatus(StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    CONVERTED = "converted"  # only by converting the lead into a deal
    LOST = "lost"


class DealStage(StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class ApiScope(StrEnum):
    """What an integration's API key may do: each route that keys may call names its scope."""

    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    CONVERSATIONS_READ = "conversations:read"
    MESSAGES_SEND = "messages:send"
    TICKETS_READ = "tickets:read"
    REPORTS_READ = "reports:read"
    CONTACTS_EXPORT = "contacts:export"  # a customer's whole data, on their request
    CONTACTS_ERASE = "contacts:erase"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    COUPONS_WRITE = "coupons:write"  # issue and redeem coupons


ROLES = tuple(Role)
API_SCOPES = tuple(ApiScope)
CONVERSATION_STATUSES = tuple(ConversationStatus)
# The statuses a conversation waits for someone in; resolved ones are the rest of the history.
ACTIVE_STATUSES = tuple(status for status in ConversationStatus if status != ConversationStatus.RESOLVED)
PRIORITIES = tuple(Priority)
TICKET_STATUSES = tuple(TicketStatus)
OPEN_TICKET_STATUSES = (TicketStatus.OPEN, TicketStatus.PENDING)
SLA_TARGETS = tuple(SlaTarget)
LEAD_STATUSES = tuple(LeadStatus)
DEAL_STAGES = tuple(DealStage)
CAMPAIGN_STATUSES = tuple(CampaignStatus)
ORDER_STATUSES = tuple(OrderStatus)
# A purchase: what counts for a customer's RFM scores and earns membership points.
PURCHASED = (OrderStatus.PAID, OrderStatus.FULFILLED)
UNDONE = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)  # a purchase's points are taken back

# Who does what: the role groups the routes, the domain and the chat commands share.
ALL_STAFF = ROLES
INBOX_WORKERS = (Role.ADMIN, Role.AGENT, Role.MANAGER)  # work conversations and tickets
SALES_TEAM = (Role.ADMIN, Role.SALES, Role.MANAGER)  # own leads and deals
MANAGERS = (Role.ADMIN, Role.MANAGER)  # reports, campaigns, rules, audit
ADMINS = (Role.ADMIN,)  # staff accounts
