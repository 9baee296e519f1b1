"""`python -m nlp train`: the models trained on the repo's examples plus this installation's
intent corrections, a report of what the corrections changed, and the result cached where
the hub loads it (restart the hub, or its NLP worker processes, to use it)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp import dataset
from nlp.evaluation import Scores, score
from nlp.languages import MODEL_LANGUAGES, model_language


def train_with_corrections(source: str | None, floor: int) -> int:
    from nlp.classifier import models_path, router, save_models, train_models
    from nlp.encoder import Encoder, model_path

    started = time.perf_counter()
    found = _from_file(Path(source)) if source else _from_database()
    corrections, held_back = _above_floor(found, floor)
    print(f"{len(found)} corrections found; {len(corrections)} used", end="")
    print(
        f" ({', '.join(f'{i}: {n}' for i, n in held_back.items())} below the floor of {floor})"
        if held_back
        else ""
    )
    encoder = _Remembering(Encoder())
    examples = dataset.load()
    train, held_out = dataset.split(examples)
    before = router(train_models(encoder, train), encoder)
    after = router(train_models(encoder, train, corrections), encoder)
    checks = {lang: [e for e in held_out if e.lang == lang] for lang in MODEL_LANGUAGES}
    if corrections:
        checks["the corrected messages"] = list(corrections)
    print(f"{'held-out set'.ljust(24)} {'n':>5}  intent before -> after   routing before -> after")
    for name, check in checks.items():
        if check:
            print(_line(name, score(before, check), score(after, check)))
    path = models_path(model_path())
    save_models(train_models(encoder, examples, corrections), path)
    print(
        f"trained on {len(examples)} examples + {len(corrections)} corrections in "
        f"{time.perf_counter() - started:.1f} s; cached at {path} (restart the hub to use it)"
    )
    return 0


def _line(name: str, before: Scores, after: Scores) -> str:
    return (
        f"{name.ljust(24)} {before.n:5d}  {before.accuracy:.3f} -> {after.accuracy:.3f}"
        f"            {before.routing:.3f} -> {after.routing:.3f}"
    )


def _above_floor(found: Sequence[dataset.Example], floor: int) -> tuple[list[dataset.Example], Counter]:
    """Only intents with at least `floor` corrections are taught, so one stray click is not."""
    per_intent = Counter(e.intent for e in found)
    kept = [e for e in found if per_intent[e.intent] >= floor]
    return kept, Counter({i: n for i, n in per_intent.items() if n < floor})


def _example(record: dict[str, Any], number: int) -> dataset.Example:
    text = str(record["text"])
    return dataset.Example(text, str(record["intent"]), model_language(text), f"correction:{number}")


def _from_file(path: Path) -> list[dataset.Example]:
    """JSON lines of {text, intent}, or the JSON of GET /api/v1/nlp/corrections."""
    raw = path.read_text(encoding="utf-8")
    try:
        records = json.loads(raw)["items"]
    except (json.JSONDecodeError, KeyError, TypeError):
        records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return [_example(r, n) for n, r in enumerate(records)]


def _from_database() -> list[dataset.Example]:
    """The corrections in the hub's database: `HUB_MONGO_URI`, else the embedded server a
    running hub keeps in `HUB_DATA_DIR` (it writes its port to `embedded.port` there)."""
    from pymongo import MongoClient

    uri = os.environ.get("HUB_MONGO_URI")
    port_file = Path(os.environ.get("HUB_DATA_DIR") or "var") / "embedded.port"
    if not uri and port_file.exists():
        uri = f"mongodb://127.0.0.1:{port_file.read_text().strip()}/?directConnection=true"
    if not uri:
        print("no database to read corrections from (set HUB_MONGO_URI, run the hub, or pass --corrections)")
        return []
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        reviews = client[os.environ.get("HUB_MONGO_DB") or "hub"].intent_reviews
        records = list(reviews.find({"agreed": False}, {"text": 1, "intent": 1}).sort("at", 1))
    return [_example(r, n) for n, r in enumerate(records)]


class _Remembering:
    """The encoder, remembering each text's vector: training three times encodes once."""

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder
        self.name = encoder.name
        self._seen: dict[str, Any] = {}

    def encode(self, texts: list[str]) -> Any:
        import numpy

        new = list(dict.fromkeys(t for t in texts if t not in self._seen))
        if new:
            self._seen.update(zip(new, self._encoder.encode(new), strict=True))
        return numpy.stack([self._seen[t] for t in texts]) if texts else self._encoder.encode([])
