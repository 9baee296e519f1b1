"""Files on replies and notes: uploaded first (checked against what the conversation's channel
carries, refused before the upload ends when too large), then sent with the message, delivered
as the channel allows, and downloadable from the thread."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from urllib.parse import unquote

from bson import ObjectId

from tests.conftest import Hub, chat_message, eventually

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def upload(
    hub: Hub, token: str, conversation_id: str, content: bytes | AsyncIterator[bytes], *,
    name: str = "receipt.png", content_type: str = "image/png", purpose: str | None = None,
) -> tuple[int, dict]:  # fmt: skip
    return await hub.upload(
        token, conversation_id, content, name=name, content_type=content_type, purpose=purpose
    )


async def test_a_reply_carries_an_uploaded_file_to_the_chat_channel(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    agent = await hub.login("agent")
    conversation_id = (await (await hub.chat(chat_message())).json())["conversation_id"]

    status, conversation = await hub.call("GET", f"/api/v1/conversations/{conversation_id}", agent)
    assert status == 200 and "image/png" in conversation["reply_attachments"]["content_types"]
    status, uploaded = await upload(hub, agent, conversation_id, PNG, name="收据 May.png")
    assert status == 201, uploaded
    assert uploaded["name"] == "收据 May.png" and uploaded["size"] == len(PNG)
    assert "content" not in uploaded

    sending = {"text": "Here is your receipt", "attachments": [uploaded["id"]]}
    status, reply = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                                   json=sending)  # fmt: skip
    assert status == 201, reply
    await eventually(lambda: asyncio.sleep(0, receiver.requests))
    sent = json.loads(receiver.requests[0][1])
    [file] = sent["attachments"]
    assert sent["text"] == "Here is your receipt"
    assert (file["name"], file["content_type"], file["size"]) == ("收据 May.png", "image/png", len(PNG))
    assert base64.b64decode(file["content_base64"]) == PNG

    _, thread = await hub.call("GET", f"/api/v1/conversations/{conversation_id}/messages", agent)
    [shown] = [m for m in thread["items"] if m["id"] == reply["id"]]
    assert [a["name"] for a in shown["attachments"]] == ["收据 May.png"]
    async with hub.client.get(f"/api/v1/messages/{reply['id']}/attachments/0",
                              headers={"Authorization": f"Bearer {agent}"}) as resp:  # fmt: skip
        assert resp.status == 200 and await resp.read() == PNG
        assert "收据 May.png" in unquote(resp.headers["Content-Disposition"])

    # Sent once: the same upload cannot go again.
    status, error = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                                   json={"text": "again", "attachments": [uploaded["id"]]})  # fmt: skip
    assert status == 422 and uploaded["id"] in error["error"]["message"]


async def test_a_file_only_reply_and_a_note_with_a_file(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    agent = await hub.login("agent")
    conversation_id = (await (await hub.chat(chat_message())).json())["conversation_id"]
    _, for_note = await upload(hub, agent, conversation_id, b"order 1,2", name="o.csv",
                               content_type="text/csv", purpose="note")  # fmt: skip
    _, for_reply = await upload(hub, agent, conversation_id, PNG)

    # A note's upload cannot go out to the customer, nor a reply's stay as a note.
    status, _ = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                               json={"attachments": [for_note["id"]]})  # fmt: skip
    assert status == 422
    status, note = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                                  json={"private": True, "attachments": [for_note["id"]]})  # fmt: skip
    assert status == 201 and note["kind"] == "note" and note["attachments"][0]["name"] == "o.csv"
    status, reply = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                                   json={"attachments": [for_reply["id"]]})  # fmt: skip
    assert status == 201 and reply["text"] == ""
    await eventually(lambda: asyncio.sleep(0, receiver.requests))
    assert len(receiver.requests) == 1  # the note never left the hub
    status, error = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                                   json={"text": "  "})  # fmt: skip
    assert status == 422 and "text or at least one attachment" in error["error"]["message"]


async def test_files_a_channel_refuses_are_refused_before_the_upload_ends(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    agent, sales = await hub.login("agent"), await hub.login("sales")
    conversation_id = (await (await hub.chat(chat_message())).json())["conversation_id"]

    status, error = await upload(hub, agent, conversation_id, b"MZ\x90\x00", name="setup.exe",
                                 content_type="application/x-msdownload")  # fmt: skip
    assert status == 415 and error["error"]["code"] == "file_type_refused"
    limit = (await hub.call("GET", f"/api/v1/conversations/{conversation_id}", agent))[1]["reply_attachments"]

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: refused once past the limit
        while True:
            yield b"\0" * 65536

    status, error = await upload(hub, agent, conversation_id, endless())
    assert status == 413 and str(limit["max_bytes"]) in error["error"]["message"]

    # A declared length past the limit is answered before a byte of the body is sent.
    server = hub.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        f"POST /api/v1/conversations/{conversation_id}/attachments?name=big.png HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: Bearer {agent}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {limit['max_bytes'] + 1}\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    assert b" 413 " in status_line
    writer.close()

    assert (await upload(hub, agent, conversation_id, b""))[0] == 400
    assert (await upload(hub, agent, conversation_id, PNG, name="../"))[0] == 422
    assert (await upload(hub, agent, conversation_id, PNG, purpose="story"))[0] == 400
    assert (await upload(hub, sales, conversation_id, PNG))[0] == 403
    assert (await upload(hub, agent, str(ObjectId()), PNG))[0] == 404
    assert await hub.db.uploads.count_documents({}) == 0


async def test_only_the_uploader_sends_an_upload_and_only_in_its_conversation(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    ann, bob = await hub.login("agent"), await hub.login("agent")
    first = (await (await hub.chat(chat_message())).json())["conversation_id"]
    other = chat_message(sender={"id": "c2", "name": "Cy", "email": "cy@example.com"})
    second = (await (await hub.chat(other)).json())["conversation_id"]
    _, uploaded = await upload(hub, ann, first, PNG)
    for token, conversation_id in ((bob, first), (ann, second)):
        status, _ = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", token,
                                   json={"text": "x", "attachments": [uploaded["id"]]})  # fmt: skip
        assert status == 422
    assert await hub.db.messages.count_documents({"direction": "out"}) == 0
    status, _ = await hub.call("POST", f"/api/v1/conversations/{first}/messages", ann,
                               json={"text": "x", "attachments": [uploaded["id"], "not-an-id"]})  # fmt: skip
    assert status in (404, 422)
    assert await hub.db.messages.count_documents({"direction": "out"}) == 0
    # Still unsent, so still usable.
    status, _ = await hub.call("POST", f"/api/v1/conversations/{first}/messages", ann,
                               json={"text": "x", "attachments": [uploaded["id"]]})  # fmt: skip
    assert status == 201
