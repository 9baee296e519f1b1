"""The application's operations that span several parts of the domain, each one place that
routes, bots and channels call: an agent's message (wherever it was written), a page of the
inbox, an agent's word on a message's intent, and an admin's retry of a parked job. The
container only builds these; routes parse, call one, and answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from crm_core.audit import Audited
from crm_core.automation.actions import Automation
from crm_core.automation.rules import RuleStore
from crm_core.contacts import Contacts
from crm_core.conversations import ConversationFilter, Conversations
from crm_core.domain_events import staff_actor
from crm_core.errors import Invalid
from crm_core.intent_reviews import IntentReviews
from crm_core.jobs import Job, JobQueue
from crm_core.notifications import Notifications
from crm_core.records import id_or_key, object_id
from crm_core.sales import LeadFilter, Leads
from crm_core.tickets import TicketFilter, Tickets
from crm_core.users import Users
from hub.metrics import Metrics


@dataclass(frozen=True)
class StaffMessages:
    conversations: Conversations
    tickets: Tickets
    users: Users
    notifications: Notifications
    delivered: Callable[[], None]  # wakes the job worker

    async def post(
        self,
        conversation_id: Any,
        text: str,
        actor: dict[str, Any],
        *,
        private: bool,
        via: str = "api",
        mentions: Sequence[str] = (),
        upload_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """An agent's reply (delivered through the conversation's channel; the ticket's first
        response is met in the reply's own transaction) or private note, audited, wherever the
        agent wrote it (the API, a Slack thread); the audit entry is written with the message.
        A note's `mentions` (active colleagues) are each told, in the note's transaction; its
        `upload_ids` (the author's uploads for it) become its attachments."""
        action = "conversation.note" if private else "conversation.reply"
        audited = Audited(actor, action, "conversation", details={"via": via})
        if mentions and not private:
            raise Invalid("mentions: only a private note mentions colleagues")
        if private:
            told = await self.users.active_ids(mentions)

            async def tell(session: AsyncClientSession, note: dict[str, Any]) -> None:
                await self.notifications.mentioned(note, actor, told, session)

            return await self.conversations.add_note(
                conversation_id, text, actor, audited, within=tell, upload_ids=upload_ids
            )
        answered = object_id(conversation_id, "conversation")

        async def meet_first_response(session: AsyncClientSession) -> None:
            await self.tickets.responded(answered, session)

        message = await self.conversations.add_reply(
            conversation_id, text, actor, within=meet_first_response, audited=audited, upload_ids=upload_ids
        )
        self.delivered()
        return message


@dataclass(frozen=True)
class ParkedJobs:
    jobs: JobQueue
    queued: Callable[[], None]  # wakes the job worker

    async def retry(self, job_id: str, actor: dict[str, Any]) -> Job:
        """An admin tries a parked job again, audited."""
        job = await self.jobs.retry(id_or_key(job_id), Audited(actor, "job.retry", "job"))
        self.queued()
        return job


@dataclass(frozen=True)
class InboxPages:
    conversations: Conversations
    contacts: Contacts
    tickets: Tickets

    async def page(
        self, where: ConversationFilter, viewer: dict[str, Any], *, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        """A page of the inbox, each conversation with its contact and its ticket's SLA times
        (two more queries per page, not per row)."""
        items = await self.conversations.list(where, viewer_id=viewer["_id"], limit=limit, cursor=cursor)
        contacts = await self.contacts.briefs([c["contact_id"] for c in items])
        tickets = await self.tickets.due_times([c["ticket_id"] for c in items if c.get("ticket_id")])
        return [
            {
                **c,
                "contact": contacts.get(c["contact_id"]),
                "ticket": tickets.get(c["ticket_id"]) if c.get("ticket_id") else None,
            }
            for c in items
        ]


@dataclass(frozen=True)
class LeadPages:
    leads: Leads
    contacts: Contacts
    conversations: Conversations

    async def page(
        self, where: LeadFilter, viewer: dict[str, Any], *, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        """A page of leads, each with who it is (the contact's name, company, addresses) and the
        channel it came from (its first conversation's): two more queries per page."""
        items = await self.leads.list(where, viewer_id=viewer["_id"], limit=limit, cursor=cursor)
        contacts = await self.contacts.briefs([lead["contact_id"] for lead in items])
        first = {
            lead["_id"]: lead["source_conversation_ids"][0]
            for lead in items
            if lead.get("source_conversation_ids")
        }
        channels = await self.conversations.channels_of(list(first.values()))
        return [
            {
                **lead,
                "contact": contacts.get(lead["contact_id"]),
                "source_channel": channels.get(first[lead["_id"]]) if lead["_id"] in first else None,
            }
            for lead in items
        ]


@dataclass(frozen=True)
class TicketPages:
    tickets: Tickets
    contacts: Contacts

    async def page(
        self, where: TicketFilter, viewer: dict[str, Any], *, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        """A page of tickets, each with its customer (name, company, addresses): one more query
        per page."""
        items = await self.tickets.list(where, viewer_id=viewer["_id"], limit=limit, cursor=cursor)
        contacts = await self.contacts.briefs([ticket["contact_id"] for ticket in items])
        return [{**ticket, "contact": contacts.get(ticket["contact_id"])} for ticket in items]


@dataclass(frozen=True)
class IntentReviewing:
    intent_reviews: IntentReviews
    rules: RuleStore
    automation: Automation
    conversations: Conversations
    metrics: Metrics

    async def review(self, message_id: str, intent: str, actor: dict[str, Any]) -> dict[str, Any]:
        """An agent's word on a message's intent, audited with the review; a correction routes
        the message again (un-spamming reopens the conversation and opens the ticket, a sales
        intent creates the lead)."""
        audited = Audited(actor, "message.intent", "conversation")
        message, review = await self.intent_reviews.record(message_id, intent, actor, audited)
        actions: list[dict[str, Any]] = []
        if not review["agreed"]:
            rules = await self.rules.get()
            actions = await self.automation.corrected(message, intent, rules, staff_actor(actor))
            await self.conversations.add_actions(message["_id"], actions)
        self.metrics.intent_reviews.labels("agreed" if review["agreed"] else "corrected").inc()
        return {**review, "actions": actions}
