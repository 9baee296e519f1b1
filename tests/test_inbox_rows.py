"""What an inbox row and the filter chips say: the customer's unread messages (shared by the
team, cleared when someone reads them), who wrote the last message, and how many conversations
each filter value would show."""

from __future__ import annotations

from tests.conftest import chat_message


async def test_unread_counts_the_customers_messages_until_someone_reads_them(hub):
    agent = await hub.login("agent")
    first = await (await hub.chat(chat_message("Hello?"))).json()
    await hub.chat(chat_message("Anyone there?"))
    path = f"/api/v1/conversations/{first['conversation_id']}"
    _, conversation = await hub.call("GET", path, agent)
    assert conversation["inbound_count"] - conversation["seen_inbound_count"] == 2

    status, seen = await hub.call("POST", f"{path}/seen", agent)
    assert status == 200 and seen["seen_inbound_count"] == seen["inbound_count"] == 2
    await hub.call("POST", f"{path}/messages", agent, json={"text": "Yes, Ann Example: how can I help?"})
    await hub.chat(chat_message("My parcel is late"))
    _, page = await hub.call("GET", "/api/v1/conversations?status=open", agent)
    [row] = page["items"]
    assert row["inbound_count"] - row["seen_inbound_count"] == 1  # our reply is no unread message
    assert row["last_message"]["author"] == "Ann Example" and row["last_message"]["direction"] == "in"
    sales = await hub.login("sales")
    assert (await hub.call("POST", f"{path}/seen", sales))[0] == 403


async def test_the_last_message_says_which_colleague_wrote_it(hub):
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message("Hello?"))).json()
    await hub.call(
        "POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent, json={"text": "Hi!"}
    )
    _, page = await hub.call("GET", "/api/v1/conversations", agent)
    last = page["items"][0]["last_message"]
    assert (last["direction"], last["author"], last["text"], last["files"]) == ("out", "Agent User", "Hi!", 0)


async def test_each_filter_value_is_counted_with_the_other_filters_applied(hub):
    agent = await hub.login("agent")
    conversations = []
    for n, (channel_label, priority) in enumerate((("vip", "high"), ("vip", None), ("late", "high"))):
        sender = {"id": f"c{n}", "name": f"C{n}", "email": f"c{n}@example.com"}
        ack = await (await hub.chat(chat_message("Hello", sender=sender))).json()
        path = f"/api/v1/conversations/{ack['conversation_id']}"
        await hub.call("PATCH", path, agent, json={"labels": [channel_label], "priority": priority})
        conversations.append(path)

    status, body = await hub.call("GET", "/api/v1/inbox/facets?status=open", agent)
    assert status == 200
    facets = body["facets"]
    assert facets["label"] == {"vip": 2, "late": 1}
    assert facets["priority"] == {"high": 2, "none": 1}
    assert facets["channel"] == {"chat": 3} and facets["assignee"] == {"none": 3}

    # With a priority chosen, the labels are counted among those; the priorities still all show.
    _, body = await hub.call("GET", "/api/v1/inbox/facets?status=open&priority=high", agent)
    assert body["facets"]["label"] == {"vip": 1, "late": 1}
    assert body["facets"]["priority"] == {"high": 2, "none": 1}
    _, body = await hub.call("GET", "/api/v1/inbox/facets?status=open&label=vip&assignee=me", agent)
    assert body["facets"]["label"] == {} and body["facets"]["assignee"] == {"none": 2}

    await hub.call("PATCH", conversations[0], agent, json={"status": "resolved"})
    _, body = await hub.call("GET", "/api/v1/inbox/facets?status=open", agent)
    assert body["facets"]["label"] == {"vip": 1, "late": 1}
    _, body = await hub.call("GET", "/api/v1/inbox/facets?status=resolved", agent)
    assert body["facets"] is None
    assert (await hub.call("GET", "/api/v1/inbox/facets?status=closed", agent))[0] == 422
    assert (await hub.call("GET", "/api/v1/conversations?status=closed", agent))[0] == 422
