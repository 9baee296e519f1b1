"""One call for everything the hub wants to know about a batch of messages."""

from __future__ import annotations

from functools import cache
from typing import Any

from nlp import signals
from nlp.classifier import Classifier, load_classifier


class Analyzer:
    """Intent (model or rules fallback) plus language, sentiment, urgency and entities.
    Synchronous and CPU-bound: the hub calls it from a worker thread."""

    def __init__(self, classifier: Classifier, *, phone_region: str = "US") -> None:
        self._classifier = classifier
        self._phone_region = phone_region
        self.model = classifier.model

    @classmethod
    def load(cls, *, phone_region: str = "US") -> Analyzer:
        return cls(load_classifier(), phone_region=phone_region)

    def analyze(
        self, texts: list[str], sender_emails: list[str | None] | None = None
    ) -> list[dict[str, Any]]:
        emails = sender_emails or [None] * len(texts)
        results = self._classifier.predict(texts)
        return [
            {
                "intent": result.intent,
                "confidence": round(result.confidence, 4),
                "confident": result.confident,
                "ranking": [{"intent": intent, "score": score} for intent, score in result.ranking],
                "entities": signals.entities(text, sender_email=email, phone_region=self._phone_region),
                "sentiment": signals.sentiment(text),
                "urgency": signals.urgency(text),
                "language": signals.language(text),
                "opt_out": signals.opt_out(text),
                "model": result.model,
            }
            for text, email, result in zip(texts, emails, results, strict=True)
        ]


@cache
def shared_analyzer(phone_region: str | None = None) -> Analyzer:
    """One analyzer per process: the model is loaded (and any fallback warning logged) once."""
    return Analyzer.load(phone_region=phone_region or "US")
