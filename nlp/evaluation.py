"""Scores a classifier on labelled examples the way the product uses it: the intent, the
route the default rules take (ticket, lead, spam, nothing), and the legitimate messages it
would call spam."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from nlp import dataset
from nlp.classifier import Classifier
from nlp.labels import INTENTS, default_route

SPAM_CUTS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Scores:
    n: int
    families: int
    models: str
    accuracy: float
    routing: float
    legit_as_spam: float  # share of non-spam messages called spam (labelled possible-spam)
    legit_resolved: float  # share of non-spam messages called spam confidently (would resolve)
    spam_recall: float
    spam_confident_recall: float
    per_intent: dict[str, tuple[int, float | None, float]]  # n, precision, recall
    # spam threshold -> (share of legitimate messages over it, share of spam over it)
    spam_thresholds: dict[float, tuple[float, float]]


def score(classifier: Classifier, examples: list[dataset.Example]) -> Scores:
    results = classifier.predict([e.text for e in examples])
    truth = [e.intent for e in examples]
    predicted = [r.intent for r in results]
    pairs = list(zip(truth, predicted, strict=True))
    legit = [r for e, r in zip(examples, results, strict=True) if e.intent != "spam"]
    spam = [r for e, r in zip(examples, results, strict=True) if e.intent == "spam"]
    return Scores(
        n=len(examples),
        families=len({e.family for e in examples}),
        models=", ".join(sorted({r.model for r in results})),
        accuracy=_share(t == p for t, p in pairs),
        routing=_share(default_route(t) == default_route(p) for t, p in pairs),
        legit_as_spam=_share(r.intent == "spam" for r in legit),
        legit_resolved=_share(r.intent == "spam" and r.confident for r in legit),
        spam_recall=_share(r.intent == "spam" for r in spam),
        spam_confident_recall=_share(r.intent == "spam" and r.confident for r in spam),
        per_intent=_per_intent(pairs),
        spam_thresholds={
            cut: (
                _share(r.intent == "spam" and r.confidence >= cut for r in legit),
                _share(r.intent == "spam" and r.confidence >= cut for r in spam),
            )
            for cut in SPAM_CUTS
        },
    )


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


def _per_intent(pairs: list[tuple[str, str]]) -> dict[str, tuple[int, float | None, float]]:
    confusion = Counter(pairs)
    out = {}
    for intent in INTENTS:
        tp = confusion[(intent, intent)]
        called = sum(n for (_, p), n in confusion.items() if p == intent)
        n = sum(n for (t, _), n in confusion.items() if t == intent)
        out[intent] = (n, tp / called if called else None, tp / n if n else 0.0)
    return out
