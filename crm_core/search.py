"""Word search without a text index: terms per record (words, and character pairs of Chinese
or Japanese), matched by prefix from the terms index on both servers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

_WORD = re.compile(r"[\w@.+-]+", re.UNICODE)
# Scripts written without spaces between words (Chinese, Japanese kana): a run of them is one
# "word" to _WORD, so each neighbouring pair of characters becomes a term instead.
_UNSPACED = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
_MAX_TERMS = 200


def search_terms(*texts: str | None) -> list[str]:
    """Lower-cased words for prefix search (and character pairs of Chinese or Japanese, so a
    word is found inside a sentence); works on servers without text indexes."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall((text or "").lower()):
            for term in _word_terms(word):
                seen.setdefault(term, None)
                if len(seen) >= _MAX_TERMS:
                    return list(seen)
    return list(seen)


def _word_terms(word: str) -> Iterator[str]:
    for part in _UNSPACED.split(word):
        if _UNSPACED.fullmatch(part):
            yield from (part[i : i + 2] for i in range(len(part) - 1))
        elif len(part := part.strip(".-+")) >= 2:
            yield part[:64]


def _prefix_bounds(word: str) -> dict[str, str]:
    """The strings that start with `word` (made of `_WORD`'s characters, none the last code
    point), as a range: the server compares code points, as UTF-8 bytes compare."""
    return {"$gte": word, "$lt": word[:-1] + chr(ord(word[-1]) + 1)}


@dataclass(frozen=True)
class TermMatch:
    """A search for records whose `terms` start with every word: `narrowing` is a filter on the
    terms index for the candidates of the longest word, `matches` the check of every word."""

    words: tuple[str, ...]
    narrowing: dict[str, Any]

    def matches(self, terms: list[str]) -> bool:
        return all(any(term.startswith(word) for term in terms) for word in self.words)


SEARCH_LIMIT = 500  # the records of one kind a search finds at most
# The candidates of one kind a search reads at most (the records its longest word's range
# holds, newest first): a word in every message costs a search no more than a rare one.
SEARCH_SCAN_LIMIT = 1000


class TermSearch:
    """Finds records whose `terms` start with every word of a query, from the terms index on
    both servers. An anchored regex is a scan on the embedded server; a range on the multikey
    index is served there (as an element in the range), while MongoDB bounds it tightly only
    under `$elemMatch`, which the embedded server never serves from an index. So the filter's
    form is the server's (asked once), and the words are checked here on what it returns."""

    def __init__(self, db: AsyncDatabase, *, bare_ranges: bool | None = None) -> None:
        self._admin = db.client.admin
        self._bare_ranges = bare_ranges  # None: ask the server

    async def match(self, q: str) -> TermMatch | None:
        words = tuple(search_terms(q)[:8])
        if not words:
            return None
        if self._bare_ranges is None:
            self._bare_ranges = "secantusVersion" in await self._admin.command("buildInfo")
        bounds = _prefix_bounds(max(words, key=len))
        return TermMatch(words, {"terms": bounds if self._bare_ranges else {"$elemMatch": bounds}})

    async def find_ids(
        self, collection: AsyncCollection, match: TermMatch, where: dict[str, Any], id_field: str = "_id"
    ) -> list[Any]:
        """The distinct `id_field` values (at most SEARCH_LIMIT) of the records matching `where`
        and every word, newest first: the terms index holds each term's records newest first
        (`terms_newest`), so the read stops at the newest SEARCH_SCAN_LIMIT candidates."""
        found: dict[Any, None] = {}
        projection = {id_field: 1, "terms": 1}
        query = {**match.narrowing, **where}
        async with collection.find(query, projection, limit=SEARCH_SCAN_LIMIT) as records:  # closed early
            async for record in records:
                if match.matches(record.get("terms") or []):
                    found[record[id_field]] = None
                    if len(found) == SEARCH_LIMIT:
                        break
        return list(found)
