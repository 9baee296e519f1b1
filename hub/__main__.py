"""`python -m hub serve | create-user | demo | reports rebuild | events replay NAME | inbox
recount`, and the channels' set-up commands (`telegram set-webhook`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from pathlib import Path

from aiohttp import web

from crm_core.errors import DomainError
from crm_core.inbox_counts import InboxCounts
from crm_core.vocabularies import ROLES
from hub import logs
from hub.api.all_routes import served_document
from hub.app import create_app
from hub.channel_plugins import plugins
from hub.database import DatabaseUnavailable, open_database
from hub.embedded import EmbeddedServerError
from hub.settings import Settings

STARTUP_ERRORS = (DatabaseUnavailable, EmbeddedServerError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub", description="Omnichannel hub")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the hub (embedded database when HUB_MONGO_URI is unset)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    user = commands.add_parser("create-user", help="create a staff user")
    user.add_argument("--email", required=True)
    user.add_argument("--password", help="prompted for when omitted")
    user.add_argument("--role", required=True, choices=ROLES)
    user.add_argument("--name")
    demo = commands.add_parser("demo", help="fill a fresh hub with realistic conversations")
    demo.add_argument("--force", action="store_true", help="add demo data even if conversations exist")
    reports = commands.add_parser("reports", help="reporting roll-ups")
    reports_commands = reports.add_subparsers(dest="reports_command", required=True)
    reports_commands.add_parser("rebuild", help="recompute the roll-ups from the domain events")
    events = commands.add_parser("events", help="domain events and their listeners")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    replay = events_commands.add_parser("replay", help="hand every stored event to a listener again")
    replay.add_argument("listener", help="the listener's name (see ARCHITECTURE.md)")
    commands.add_parser("openapi", help="print the OpenAPI document (the console's types are made from it)")
    importing = commands.add_parser("import", help="import contacts from a .csv or .xlsx FILE")
    importing.add_argument("kind", choices=["contacts"])
    importing.add_argument("file", type=Path)
    importing.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    backup = commands.add_parser("backup", help="write the whole database to FILE, as it is at one moment")
    backup.add_argument("file", type=Path)
    restore = commands.add_parser("restore", help="load a backup FILE into an empty database")
    restore.add_argument("file", type=Path)
    inbox = commands.add_parser("inbox", help="the inbox counts")
    inbox_commands = inbox.add_subparsers(dest="inbox_command", required=True)
    inbox_commands.add_parser("recount", help="count the inbox totals again from the conversations")
    channels = {plugin.name: plugin for plugin in plugins()}
    for plugin in channels.values():
        plugin.add_commands(commands)
    args = parser.parse_args(argv)

    if args.command == "openapi":
        print(json.dumps(served_document(), indent=1, sort_keys=True))
        return 0
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        if args.command == "create-user":
            password = args.password or getpass.getpass("password: ")
            return asyncio.run(_create_user(settings, args.email, password, args.role, args.name))
        if args.command in channels:
            return asyncio.run(channels[args.command].run_command(settings, args))
        if args.command == "reports":
            return asyncio.run(_replay(settings, "rollups", rebuild=True))
        if args.command == "events":
            return asyncio.run(_replay(settings, args.listener, rebuild=False))
        if args.command == "inbox":
            return asyncio.run(_recount(settings))
        if args.command == "import":
            return asyncio.run(_import(settings, args.kind, args.file, dry_run=args.dry_run))
        if args.command in ("backup", "restore"):
            return asyncio.run(_archive(settings, args.command, args.file))
        from hub.demo import fill

        return asyncio.run(fill(settings, force=args.force))
    except STARTUP_ERRORS as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    host, port = host or settings.host, port or settings.port
    logging.getLogger("hub").info("starting", extra={"url": f"http://{host}:{port}"})
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=logging.getLogger("hub.access"),
        access_log_class=logs.AccessLogger,
        # Also the time a new connection has to send its first request: a client that never
        # finishes its headers is closed then, instead of holding a connection for an hour.
        keepalive_timeout=settings.http_idle_seconds,
        print=None,
    )
    return 0


async def _create_user(settings: Settings, email: str, password: str, role: str, name: str | None) -> int:
    from crm_core.users import Users

    async with open_database(settings) as db:
        user = await Users(db).create(email, password, role, name)
    print(f"created {role} {user['email']} ({user['_id']})")
    return 0


async def _replay(settings: Settings, name: str, *, rebuild: bool) -> int:
    """Replay the stored events to one listener (a rebuild clears its state first)."""
    from hub.app import build_services
    from hub.realtime import Realtime

    async with open_database(settings) as db:
        services = build_services(settings, db, Realtime(), {})
        loops = {loop.listener.name: loop for loop in services.listeners}
        if name not in loops:
            print(f"hub: no listener {name!r}; listeners: {', '.join(loops)}", file=sys.stderr)
            return 2
        loop = loops[name]
        if not getattr(loop.listener, "replayable", True):
            print(f"hub: {name} is not kept from replayed events (see ARCHITECTURE.md)", file=sys.stderr)
            return 2
        reset = services.reports.rollups.clear if rebuild else None
        handled = await loop.replay(services.event_log, reset)
    if handled is None:
        print(f"{name}: every event is owed to it again; the hub process running it handles them")
    else:
        print(f"{name}: {handled} events handled")
    return 0


async def _import(settings: Settings, kind: str, file: Path, *, dry_run: bool) -> int:
    """An import run here and now (the same as the API's, without waiting for a job worker)."""
    from tqdm import tqdm

    from crm_core.audit import Audited
    from crm_core.imports import SpreadsheetImports

    actor = {"_id": "command-line", "email": None, "name": "python -m hub import", "kind": "cli"}
    async with open_database(settings) as db:
        imports = SpreadsheetImports(db, settings.phone_region)
        audited = Audited(actor, "import.create", "import")
        with file.open("rb") as content:
            record = await imports.create(kind, file.name, content, None, dry_run, audited, queued=False)

        with tqdm(desc=file.name, unit=" rows", file=sys.stderr) as bar:

            async def alive() -> None:
                done = await imports.get(record["_id"])
                bar.total = done.get("rows")
                bar.update(done["processed"] - bar.n)

            result = await imports.run(record["_id"], alive)
    if result["status"] == "failed":
        print(f"hub: {result['error']}", file=sys.stderr)
        return 1
    counts = ", ".join(
        f"{result[k]} {k.replace('_', ' ')}" for k in ("created", "updated", "skipped", "failed_rows")
    )
    print(f"{'dry run: ' if dry_run else ''}{counts} ({result['processed']} rows); import {result['_id']}")
    return 0


async def _archive(settings: Settings, command: str, file: Path) -> int:
    from hub.backup import BackupError, backup, restore

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    try:
        async with open_database(settings) as db:
            counts = await (backup if command == "backup" else restore)(db, file, progress)
    except BackupError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    done = "written to" if command == "backup" else "restored from"
    print(f"{sum(counts.values())} documents in {len(counts)} collections {done} {file}")
    return 0


async def _recount(settings: Settings) -> int:
    async with open_database(settings) as db:
        totals = await InboxCounts(db).recount()
    print(f"inbox counts: {sum(totals.values())} started conversations counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
