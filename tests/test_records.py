"""`records.modify_one`, what every claim, assignment and agent edit goes through: a read and a
guarded update in place of findAndModify (which the embedded server writes through a scan)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.records import modify_one
from crm_core.search import TermSearch
from hub.jsonable import jsonable


async def test_concurrent_claims_take_each_document_once(hub):
    col = hub.db.claim_test
    await col.insert_many([{"n": n, "status": "free", "claims": 0} for n in range(10)])
    take = {"$set": {"status": "taken"}, "$inc": {"claims": 1}}

    claimed = await asyncio.gather(
        *(modify_one(col, {"status": "free"}, take, sort=[("n", 1)]) for _ in range(30))
    )

    won = [doc for doc in claimed if doc is not None]
    assert len(won) == len({doc["_id"] for doc in won}) >= 1
    assert all(doc["status"] == "taken" and doc["claims"] == 1 for doc in won)  # as it is after the claim
    stored = await col.find().to_list(None)
    assert all(doc["claims"] <= 1 for doc in stored)
    assert {doc["_id"] for doc in stored if doc["claims"] == 1} == {doc["_id"] for doc in won}
    # Whoever came back empty-handed found nothing free, or lost every race it ran; once the
    # rush is over, the rest are taken one by one.
    while await modify_one(col, {"status": "free"}, take, sort=[("n", 1)]) is not None:
        pass
    assert await col.count_documents({"status": "taken", "claims": 1}) == 10


async def test_the_document_before_or_after_the_update_and_none_when_nothing_matches(hub):
    col = hub.db.modify_test
    first = (await col.insert_one({"status": "open", "count": 1})).inserted_id

    after = await modify_one(col, {"_id": first}, {"$inc": {"count": 1}})
    before = await modify_one(
        col, {"_id": first, "status": "open"}, {"$set": {"status": "resolved"}}, before=True
    )

    assert after["count"] == 2
    assert before["status"] == "open" and before["count"] == 2
    assert (await col.find_one({"_id": first}))["status"] == "resolved"
    # The guard is the filter: a document that no longer matches is left alone.
    assert await modify_one(col, {"_id": first, "status": "open"}, {"$set": {"count": 99}}) is None
    assert await modify_one(col, {"_id": "missing"}, {"$set": {"count": 99}}) is None
    assert (await col.find_one({"_id": first}))["count"] == 2


# Terms as `search_terms` makes them, from few characters (so that words share prefixes) with
# what is awkward for ranges: accents and Chinese (above ASCII), the characters kept inside words.
TERMS = st.text(alphabet=st.sampled_from([*"ab9é-.", "中", "文"]), min_size=1, max_size=4)
WORDS = st.text(alphabet=st.sampled_from([*"ab9é", "中"]), min_size=2, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    records=st.lists(st.lists(TERMS, max_size=5), min_size=1, max_size=8),
    words=st.lists(WORDS, min_size=1, max_size=3),
)
async def test_a_term_search_finds_exactly_the_records_with_a_term_starting_with_every_word(
    hub, records, words
):
    collection = hub.db[f"terms_{uuid.uuid4().hex[:8]}"]
    await collection.create_index([("terms", 1), ("_id", -1)])
    await collection.insert_many([{"n": n, "terms": terms} for n, terms in enumerate(records)])
    for bare_ranges in (True, False):  # the embedded server's form, and MongoDB's
        match = await TermSearch(hub.db, bare_ranges=bare_ranges).match(" ".join(words))
        if match is None:
            continue
        expected = {
            n
            for n, terms in enumerate(records)
            if all(any(t.startswith(w) for t in terms) for w in match.words)
        }
        found = await TermSearch(hub.db, bare_ranges=bare_ranges).find_ids(collection, match, {}, "n")
        assert sorted(found) == sorted(expected)
    await collection.drop()


def test_times_are_written_to_the_millisecond_so_that_they_sort_as_strings():
    """A time on a whole second was written without its fraction ("...07Z"), which sorts after
    "...07.073Z": clients comparing the strings saw pages out of order."""
    whole, later = datetime(2026, 1, 1, 0, 0, 7), datetime(2026, 1, 1, 0, 0, 7, 73000, tzinfo=UTC)
    assert [jsonable(whole), jsonable(later)] == ["2026-01-01T00:00:07.000Z", "2026-01-01T00:00:07.073Z"]
    assert (
        jsonable(datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))) == "2026-01-01T00:00:00.000Z"
    )
