"""The fixed intent labels, and what the default rules do with each (routing depends on them)."""

INTENTS = (
    "support_request",
    "billing",
    "sales_inquiry",
    "complaint",
    "cancellation",
    "feedback",
    "greeting",
    "spam",
    "other",
)
TICKET_INTENTS = ("support_request", "billing", "complaint", "cancellation")
LEAD_INTENTS = ("sales_inquiry",)


def default_route(intent: str) -> str:
    """What the default rules do with a message of this intent."""
    if intent in TICKET_INTENTS:
        return "ticket"
    if intent in LEAD_INTENTS:
        return "lead"
    return "spam" if intent == "spam" else "nothing"
