"""`python -m hub backup FILE` and `python -m hub restore FILE`, as an operator runs them: a
backup taken while messages arrive restores to a hub where every message acknowledged before
the backup began is present, once, in its conversation, and the hub runs on it."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from bson import ObjectId

from tests.conftest import chat_message

pytestmark = pytest.mark.slow


async def hub_command(mongo_uri: str, database: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {"HUB_MONGO_URI": mongo_uri, "HUB_MONGO_DB": database}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode()


async def test_a_backup_taken_during_traffic_restores_to_a_working_hub(
    make_hub, mongo_uri, settings, tmp_path
):
    hub = await make_hub()
    acknowledged: list[dict] = []
    stop, enough = asyncio.Event(), asyncio.Event()

    async def traffic() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            sender = {"id": f"c{n % 7}", "name": f"Customer {n % 7}", "email": f"c{n % 7}@example.com"}
            resp = await hub.chat(chat_message(f"message {n}", sender=sender))
            assert resp.status in (200, 201)
            acknowledged.append(await resp.json())
            if len(acknowledged) >= 20:
                enough.set()

    arriving = asyncio.create_task(traffic())
    await asyncio.wait_for(enough.wait(), 60)
    before = list(acknowledged)  # acknowledged before the backup began
    archive = tmp_path / "hub-backup.zip"
    status, output = await hub_command(mongo_uri, settings.mongo_db, "backup", str(archive))
    stop.set()
    await arriving
    assert status == 0, output
    assert archive.is_file() and "documents in" in output and "messages:" in output

    restored_db = f"restored_{uuid.uuid4().hex[:8]}"
    status, output = await hub_command(mongo_uri, restored_db, "restore", str(archive))
    assert status == 0, output
    again = await make_hub(mongo_db=restored_db)
    for ack in before:
        found = await again.db.messages.count_documents({"_id": ObjectId(ack["id"])})
        assert found == 1, ack
        message = await again.db.messages.find_one({"_id": ObjectId(ack["id"])})
        assert str(message["conversation_id"]) == ack["conversation_id"]
    agent = await again.login("agent")
    status, page = await again.call("GET", "/api/v1/conversations?status=open", agent)
    assert status == 200 and page["items"]
    ack = await (await again.chat(chat_message("after the restore"))).json()
    assert await again.db.messages.count_documents({"_id": ObjectId(ack["id"])}) == 1

    # A restore never mixes into a database that holds data.
    status, output = await hub_command(mongo_uri, restored_db, "restore", str(archive))
    assert status == 1 and "not empty" in output


async def test_what_is_not_a_backup_is_refused(mongo_uri, tmp_path: Path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    status, output = await hub_command(mongo_uri, f"empty_{uuid.uuid4().hex[:8]}", "restore", str(junk))
    assert status == 1 and "not a backup" in output
