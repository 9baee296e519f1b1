"""Small helpers shared by the repositories (the vocabularies: crm_core.vocabularies)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from crm_core.errors import Invalid, NotFound


def is_transient(exc: BaseException) -> bool:
    """A database error that a later try can get past: the server unreachable, or a transaction
    that met another's writes (say, one a killed process left open until the server aborts it)."""
    return isinstance(exc, ConnectionFailure) or (
        isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def object_id(value: Any, what: str) -> ObjectId:
    """Parse an id from the outside world; a malformed one is simply not found."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"{what} {value!r} not found") from exc


DUPLICATE_KEY = 11000  # the server's code for a write refused by a unique index


async def find_after_duplicate(
    find: Callable[[], Awaitable[dict[str, Any] | None]], what: str, attempts: int = 6
) -> dict[str, Any]:
    """The record a concurrent writer just created, after our write hit its unique key. Some
    servers (the embedded one) report the duplicate before the winner's write is visible to
    other connections, so read again with a short backoff instead of failing the request."""
    for attempt in range(attempts):
        if (found := await find()) is not None:
            return found
        await asyncio.sleep(0.005 * 2**attempt)
    raise RuntimeError(f"duplicate key on {what}, but the existing record never became visible")


async def insert_new(
    collection: AsyncCollection,
    planned: list[dict[str, Any]],
    existing: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]],
    what: str,
) -> list[dict[str, Any]]:
    """Insert the planned documents in one write and return what is stored, in order: a
    document whose unique key a concurrent writer took first is replaced by that writer's,
    read back with `existing(planned document)`."""
    try:
        await collection.insert_many(planned, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details["writeErrors"]
        if any(error["code"] != DUPLICATE_KEY for error in errors):
            raise
        planned = list(planned)
        for error in errors:
            doc = planned[error["index"]]
            planned[error["index"]] = await find_after_duplicate(lambda doc=doc: existing(doc), what)
    return planned


# How often `modify_one` looks again when another writer changed the document in between.
_MODIFY_ATTEMPTS = 3


async def modify_one(
    collection: AsyncCollection,
    where: dict[str, Any],
    update: dict[str, Any] | list[dict[str, Any]],
    *,
    sort: list[tuple[str, int]] | None = None,
    before: bool = False,
    session: AsyncClientSession | None = None,
) -> dict[str, Any] | None:
    """Update the first document `where` matches and return it as it is after the update (as
    it was before, with `before`); None when none matches. What `find_one_and_update` does, as
    a read and an `update_one` guarded by `where` and the document's `_id`: the embedded
    server writes a findAndModify that matched through a filter it never serves from an index
    (the query re-asserted under `$and`), so each one read every document of the collection
    (bench/README.md, "Agent actions"). If another writer changes the document in between so
    that it no longer matches, the guard misses and it looks again. Keep `where` free of
    top-level operators (`$or`): the embedded server scans for those too. Inside a
    transaction the result is exact; outside one, the document after may also hold a
    concurrent writer's change."""
    if where.keys() == {"_id"} and not before:
        # One round trip fewer: the document is known, only the update needs to find it.
        if (await collection.update_one(where, update, session=session)).matched_count == 0:
            return None
        return await collection.find_one(where, session=session)
    for _ in range(_MODIFY_ATTEMPTS):
        found = await collection.find_one(where, None if before else {"_id": 1}, sort=sort, session=session)
        if found is None:
            return None
        guard = {"_id": found["_id"], **{key: value for key, value in where.items() if key != "_id"}}
        if (await collection.update_one(guard, update, session=session)).matched_count:
            return found if before else await collection.find_one({"_id": found["_id"]}, session=session)
    return None


async def find_by_id(
    collection: AsyncCollection, record_id: Any, what: str, session: AsyncClientSession | None = None
) -> dict[str, Any]:
    """The record with this id, or NotFound naming what was looked for."""
    record = await collection.find_one({"_id": object_id(record_id, what)}, session=session)
    if record is None:
        raise NotFound(f"{what} {record_id} not found")
    return record


def one_of(field: str, values: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A filter for an API list parameter such as `status=open,pending`."""
    wanted = values.split(",")
    if unknown := set(wanted) - set(allowed):
        raise Invalid(f"{field}: unknown value {sorted(unknown)[0]!r}")
    return {field: {"$in": wanted}}


# How far back from its start a newest-first page looks first, then next (see `find_page`).
_PAGE_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=30))


async def find_page(
    collection: AsyncCollection,
    clauses: list[dict[str, Any]],
    *,
    limit: int,
    cursor: tuple | None,
    field: str = "created_at",
    oldest_first: bool = False,
    windows: bool = True,
) -> list[dict[str, Any]]:
    """A page of records matching every clause in `(field, _id)` order, newest first (oldest
    with `oldest_first`), after the cursor (the `(field, _id)` of the last row seen). Rows tied
    with the cursor's time come first, asked for on their own: an `$or` of both conditions is
    served by no index on the embedded server. That server also reads and sorts every match
    before it applies a limit, so a newest-first page is asked for in windows back from its
    start (now, or the cursor's time): the last hour, day, week, month through the index led by
    `field` (named first: that server tries a filter's fields in order), then without bound,
    until it is full. Not with `windows=False` (a clause another index serves better, such as
    one contact's records), nor when a clause is an operator (`$or`): a scan there anyway."""
    direction, beyond = (1, "$gt") if oldest_first else (-1, "$lt")
    order = [(field, direction), ("_id", direction)]
    rows: list[dict[str, Any]] = []
    bound: dict[str, Any] = {}
    if cursor:
        at, last_id = cursor
        tied = all_of([{field: at, "_id": {beyond: last_id}}, *clauses])
        rows = await collection.find(tied).sort(order).to_list(limit)
        bound = {beyond: at}
    wanted = limit - len(rows)
    if wanted <= 0:
        return rows
    start = cursor[0] if cursor else utcnow()
    windowed = windows and not oldest_first and not any(key.startswith("$") for key in all_of(clauses))
    for window in _PAGE_WINDOWS if windowed else ():
        recent = all_of([{field: {**bound, "$gte": start - window}}, *clauses])
        older = await collection.find(recent).sort(order).to_list(wanted)
        if len(older) == wanted:
            return rows + older
    # The time's bound leads where the time index is the way in, else the caller's clauses do.
    beyond_cursor = [{field: bound}] if bound else []
    rest = all_of([*beyond_cursor, *clauses] if windowed else [*clauses, *beyond_cursor])
    return rows + await collection.find(rest).sort(order).to_list(wanted)


def all_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    """A filter matching every clause: the clauses side by side when no two name the same
    field, else `$and`. The same query to MongoDB; the embedded server uses an index only for
    the plain form (an inbox page at 20,000 conversations: 195 ms instead of 557 ms)."""
    merged: dict[str, Any] = {}
    for clause in clauses:
        if merged.keys() & clause.keys():
            return {"$and": clauses}
        merged |= clause
    return merged


def changed_fields(current: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if current.get(key) != value}


async def update_found(
    collection: AsyncCollection,
    record_id: Any,
    update: dict[str, Any] | list[dict[str, Any]],
    what: str,
    session: AsyncClientSession | None = None,
) -> dict[str, Any]:
    """The record with this id after `update`; NotFound when it is gone (deleted or merged
    away meanwhile)."""
    record = await modify_one(collection, {"_id": record_id}, update, session=session)
    if record is None:
        raise NotFound(f"{what} {record_id} not found")
    return record


async def save_changes(
    collection: AsyncCollection,
    current: dict[str, Any],
    changed: dict[str, Any],
    session: AsyncClientSession | None = None,
    **extra: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write `changed` (and `extra`, and `updated_at`) onto the record; returns the new record
    and the old values of the changed fields (what the audit log shows)."""
    update = {"$set": {**changed, **extra, "updated_at": utcnow()}}
    record = await update_found(collection, current["_id"], update, collection.name, session)
    return record, {key: current.get(key) for key in changed}


def check_one_of(fields: dict[str, Any], field: str, allowed: tuple[str, ...]) -> None:
    """Reject an edit that sets `field` to a value outside its vocabulary."""
    if field in fields and fields[field] not in allowed:
        raise Invalid(f"{field}: must be one of {', '.join(allowed)}")


@contextlib.asynccontextmanager
async def transaction(db: AsyncDatabase) -> AsyncIterator[AsyncClientSession]:
    """A transaction for a change that records no domain event (with events: EventLog's)."""
    async with db.client.start_session() as session, await session.start_transaction():
        yield session


def id_or_key(text: str) -> ObjectId | str:
    """A record's id as given in a URL: an ObjectId's hex, or the key of a record named by one
    (a keyed job)."""
    return ObjectId(text) if ObjectId.is_valid(text) else text
