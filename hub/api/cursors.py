"""Opaque, stable page cursors: the sort key of the last row a client saw."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId

from hub.api.errors import ApiError


def encode_cursor(at: datetime, record_id: ObjectId) -> str:
    raw = json.dumps([at.isoformat(), str(record_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> tuple[datetime, ObjectId] | None:
    if not value:
        return None
    try:
        at, record_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return datetime.fromisoformat(at), ObjectId(record_id)
    except (ValueError, TypeError, binascii.Error, InvalidId, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_cursor", "cursor is not one this API gave out") from exc


def next_cursor(items: list[dict], limit: int, field: str) -> str | None:
    if len(items) < limit or not items:
        return None
    last = items[-1]
    return encode_cursor(last[field], last["_id"])
