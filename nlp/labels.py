"""The fixed intent labels; routing depends on them."""

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
