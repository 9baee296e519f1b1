"""Connects to MongoDB: the configured server, or the embedded one started on demand."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from crm_core.indexes import ensure_indexes
from hub.embedded import EmbeddedServer, embedded_uri
from hub.settings import Settings

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    pass


def _port_file(data_dir: Path) -> Path:
    return data_dir / "embedded.port"


async def _running_embedded(data_dir: Path) -> str | None:
    """The URI of an embedded server another hub process already runs on this data dir."""
    try:
        port = int(_port_file(data_dir).read_text().strip())
    except (OSError, ValueError):
        return None
    uri = embedded_uri(port)
    client = AsyncMongoClient(uri, serverSelectionTimeoutMS=500)
    try:
        await client.admin.command("ping")
        return uri
    except PyMongoError:
        return None
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[AsyncDatabase]:
    embedded: EmbeddedServer | None = None
    uri = settings.mongo_uri or await _running_embedded(settings.data_dir)
    if uri is None:
        embedded = EmbeddedServer(settings.data_dir / "db", sync_on_commit=settings.embedded_sync)
        uri = await embedded.start()
        _port_file(settings.data_dir).write_text(str(embedded.port))
    client: AsyncMongoClient = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=settings.mongo_timeout_ms
    )
    try:
        try:
            await client.admin.command("ping")
            db = client[settings.mongo_db]
            await ensure_indexes(db)
        except PyMongoError as exc:
            raise DatabaseUnavailable(
                f"cannot reach MongoDB at {_redacted(uri)}: {exc.__class__.__name__}"
            ) from exc
        yield db
    finally:
        await client.close()
        if embedded is not None:
            _port_file(settings.data_dir).unlink(missing_ok=True)
            await embedded.stop()


def _redacted(uri: str) -> str:
    """Drop credentials from a URI before it reaches a log or an error message."""
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if "@" in rest else uri
