"""MongoDB records to JSON-ready dicts: ids as strings, times as ISO 8601, internals dropped,
numbers JSON can hold."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

# Internal fields: search terms, channel routing and attachment bytes (served by their own
# route) are not for API clients.
_HIDDEN = frozenset({"terms", "password_hash", "route", "thread_key", "token_hash", "content"})


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {("id" if k == "_id" else k): jsonable(v) for k, v in value.items() if k not in _HIDDEN}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        # Always to the millisecond (what the database keeps): strings of one width sort as
        # times do ("07Z" sorted after "07.073Z" when a time fell on a whole second).
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no infinity or NaN: one such stored number must not break a page
    return value
