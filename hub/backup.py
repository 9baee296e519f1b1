"""Backup and restore of the whole database (`python -m hub backup FILE`, `... restore FILE`).

A backup is a zip: `manifest.json` (when, which database, each collection's document count) and
one `<collection>.bson` per collection, its documents as BSON one after another (as mongodump
writes them, so types survive exactly). Every collection is read in one snapshot transaction:
the archive is the database as it was at one moment, whatever arrives meanwhile. It is written
to a temporary file beside FILE and renamed when complete, so FILE is never half a backup.
A restore goes into an empty database only, then makes the indexes."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import bson
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from crm_core.indexes import ensure_indexes
from crm_core.records import utcnow

ARCHIVE_FORMAT = 1
BATCH = 1000
Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot be made, and why."""


async def backup(db: AsyncDatabase, path: Path, progress: Progress) -> dict[str, int]:
    """Write the whole database to `path`; returns each collection's document count."""
    names = sorted(name for name in await db.list_collection_names() if not name.startswith("system."))
    partial = path.with_name(f".{path.name}.partial")
    counts: dict[str, int] = {}
    started = utcnow()
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            async with db.client.start_session() as session:
                await _dump_all(db, names, session, archive, counts, progress)
            manifest = {"format": ARCHIVE_FORMAT, "database": db.name, "taken_at": started.isoformat(),
                        "collections": counts}  # fmt: skip
            archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return counts


async def _dump_all(
    db: AsyncDatabase,
    names: list[str],
    session: AsyncClientSession,
    archive: zipfile.ZipFile,
    counts: dict[str, int],
    progress: Progress,
) -> None:
    """Every collection, read in one snapshot: the database at one moment."""
    async with await session.start_transaction(read_concern=ReadConcern("snapshot")):
        for name in names:
            with archive.open(f"{name}.bson", "w", force_zip64=True) as out:
                counts[name] = await _dump(db[name].find({}, session=session, batch_size=BATCH), out)
            progress(f"{name}: {counts[name]} documents")


async def _dump(cursor: Any, out: IO[bytes]) -> int:
    count = 0
    async for document in cursor:
        out.write(bson.encode(document))
        count += 1
    return count


async def restore(db: AsyncDatabase, path: Path, progress: Progress) -> dict[str, int]:
    """Load the backup at `path` into `db`, which must hold no documents."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{path} is not a backup: {exc}") from exc
    with archive:
        manifest = _manifest(archive)
        for name in await db.list_collection_names():
            if await db[name].estimated_document_count():
                raise BackupError(
                    f"the database {db.name} is not empty ({name} holds documents): restore into an empty one"
                )
        counts: dict[str, int] = {}
        for name in manifest["collections"]:
            with archive.open(f"{name}.bson") as source:
                counts[name] = 0
                for batch in _batches(bson.decode_file_iter(source)):
                    await db[name].insert_many(batch, ordered=False)
                    counts[name] += len(batch)
            progress(f"{name}: {counts[name]} documents")
        await ensure_indexes(db)
    if counts != manifest["collections"]:
        raise BackupError(f"restored {counts}, the backup says {manifest['collections']}")
    return counts


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError) as exc:
        raise BackupError("the archive has no readable manifest.json: not a hub backup") from exc
    if manifest.get("format") != ARCHIVE_FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}; this hub reads {ARCHIVE_FORMAT}")
    return manifest


def _batches(documents: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for document in documents:
        batch.append(document)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
