"""Round-robin assignment: the active user of a role who was given work least recently and
is under capacity. The claim is a compare-and-set on that user's last-assigned time, so two
hub processes assigning at once pick different people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.errors import Invalid
from crm_core.records import object_id, utcnow

_NEVER = datetime.min.replace(tzinfo=UTC)


async def next_assignee(
    db: AsyncDatabase, *, role: str, queue: str, owner_field: str, capacity: int | None = None
) -> dict[str, Any] | None:
    """Someone to take one more open record of `queue` (a collection whose open records carry
    `open: True` and the owner in `owner_field`), or None when everyone is at capacity."""
    stamp = f"assigned_at.{queue}"
    users = await db.users.find({"role": role, "active": True}, {"name": 1, "email": 1, stamp: 1}).to_list(
        1000
    )
    users.sort(key=lambda u: (u.get("assigned_at", {}).get(queue) or _NEVER, u["_id"]))
    load: dict[Any, int] = {}
    if capacity is not None and users:
        rows = await db[queue].aggregate(
            [
                {"$match": {"open": True, owner_field: {"$in": [u["_id"] for u in users]}}},
                {"$group": {"_id": f"${owner_field}", "n": {"$sum": 1}}},
            ]
        )
        load = {row["_id"]: row["n"] async for row in rows}
    for user in users:
        if capacity is not None and load.get(user["_id"], 0) >= capacity:
            continue
        previous = user.get("assigned_at", {}).get(queue)
        claimed = await db.users.update_one(
            {"_id": user["_id"], stamp: previous}, {"$set": {stamp: utcnow()}}
        )
        if claimed.modified_count:
            return user
    return None


def user_filter(value: str, viewer_id: ObjectId) -> ObjectId | None:
    """An owner filter from the API: a user id, "me" or "none"."""
    if value == "me":
        return viewer_id
    if value == "none":
        return None
    return object_id(value, "user")


async def active_user_id(db: AsyncDatabase, user_id: Any, roles: tuple[str, ...]) -> ObjectId:
    user = await db.users.find_one({"_id": object_id(user_id, "user"), "active": True}, {"role": 1})
    if user is None or user["role"] not in roles:
        raise Invalid(f"no active user with that id and one of the roles {', '.join(roles)}")
    return user["_id"]
