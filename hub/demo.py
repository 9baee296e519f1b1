"""`python -m hub demo`: realistic conversations through the real chat adapter and pipeline."""

from __future__ import annotations

import json
import random
import secrets
from datetime import UTC, datetime, timedelta

from channels import chat
from crm_core.errors import Conflict
from hub.app import build_services
from hub.database import open_database
from hub.realtime import Realtime
from hub.settings import Settings

CUSTOMERS = [
    ("Maria Gonzalez", "maria.gonzalez@example.com", "+34 612 345 678"),
    ("Tom Becker", "tom.becker@example.de", None),
    ("Priya Nair", "priya@nairlabs.example", "+44 7700 900123"),
    ("Kenji Watanabe", None, "+81 90 1234 5678"),
    ("Aisha Bello", "aisha.bello@example.org", None),
    ("Lucas Martin", "lucas.martin@example.fr", "+33 6 12 34 56 78"),
    ("Olivia Chen", "olivia@brightpath.example", None),
    ("Noah Smith", "noah.smith@example.com", "+1 415 555 0134"),
    ("Sofia Rossi", "sofia.rossi@example.it", None),
    ("Ethan Brown", None, "+1 212 555 0199"),
    ("Fatima Zahra", "fatima.z@example.ma", None),
    ("Jakub Nowak", "jakub.nowak@example.pl", None),
]

THREADS = [
    [
        "Hi, I was charged twice for my March invoice (INV-2291). Can you refund one of them?",
        "I can see both charges on my card statement, same amount: 49 EUR.",
    ],
    [
        "Hello! We're a team of 40 looking at your Business plan. Do you offer annual pricing?",
        "Also, can we get a demo next week? Budget is around 20k per year.",
    ],
    [
        "The mobile app crashes every time I open the settings page since the last update.",
        "iPhone 13, iOS 17.4. Reinstalling didn't help.",
    ],
    ["I want to cancel my subscription at the end of this month.", "Too expensive for what we use, sorry."],
    ["hey there :)"],
    [
        "Your courier left my parcel in the rain and everything inside is soaked. This is unacceptable.",
        "Order #88412. I want a replacement or my money back.",
    ],
    ["Can I change the email address on my account? I no longer use the old one."],
    ["Just wanted to say the new dashboard is fantastic, great work team!"],
    [
        "How do I export all my contacts to CSV?",
        "Found the button under Settings > Data, never mind. Thanks!",
    ],
    ["Is there an API for creating orders? We'd like to integrate with our ERP."],
    ["My password reset email never arrives. I checked spam too."],
    ["URGENT: our whole team is locked out since this morning, login says 'account suspended'."],
    ["Congratulations!!! You have won a FREE cruise, click here to claim your prize now"],
    ["What are your support hours on weekends?"],
    ["The invoice PDF shows the wrong VAT number for our company, can you reissue it?"],
]

LABELS = ["billing", "bug", "vip", "refund", "feature-request", "onboarding"]


async def fill(settings: Settings, *, force: bool = False, seed: int = 7) -> int:
    rng = random.Random(seed)
    async with open_database(settings) as db:
        if not force and await db.conversations.estimated_document_count():
            print("hub demo: this hub already has conversations; use --force to add demo data anyway")
            return 1
        services = build_services(settings, db, Realtime(), senders={})
        agent, password = await _demo_agent(services)
        now = datetime.now(UTC)
        run = secrets.token_hex(3)
        count = 0
        for index in range(36):
            name, email, phone = CUSTOMERS[index % len(CUSTOMERS)]
            sender = {"id": f"demo-{index % len(CUSTOMERS)}", "name": name, "email": email, "phone": phone}
            stored = None
            for position, text in enumerate(THREADS[index % len(THREADS)]):
                payload = {
                    "external_id": f"demo-{run}-{index}-{position}",
                    "thread_id": f"t{index // len(CUSTOMERS)}",
                    "sender": sender,
                    "text": text,
                    "sent_at": (now - timedelta(hours=36 - index, minutes=5 - position)).isoformat(),
                }
                stored = await services.pipeline.ingest(chat.parse(json.dumps(payload).encode()))
            count += 1
            if stored is not None:
                await _triage(services, stored.conversation_id, agent, rng)
    print(f"hub demo: {count} conversations from {len(CUSTOMERS)} customers through the chat pipeline")
    if password:
        print(f"hub demo: log in as {agent['email']} with password {password}")
    return 0


async def _demo_agent(services) -> tuple[dict, str | None]:
    email = "alex.agent@demo.example"
    password = secrets.token_urlsafe(9)
    try:
        return await services.users.create(email, password, "agent", "Alex (demo agent)"), password
    except Conflict:
        return await services.db.users.find_one({"email": email}), None


async def _triage(services, conversation_id, agent: dict, rng: random.Random) -> None:
    """Work some conversations the way an agent would, so the inbox looks lived in."""
    roll = rng.random()
    if roll < 0.35:
        return
    changes: dict = {
        "labels": rng.sample(LABELS, rng.randint(1, 2)),
        "priority": rng.choice(["low", "medium", "high"]),
    }
    if roll > 0.55:
        changes["assignee_id"] = str(agent["_id"])
    if roll > 0.8:
        changes["status"] = "resolved"
    await services.conversations.update(conversation_id, changes, agent)
    if roll > 0.7:
        await services.conversations.add_note(
            conversation_id, "Checked the account; looks legitimate.", agent
        )
