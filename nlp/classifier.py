"""Intent classification, one model per language the model reads, routed by `model_language`:

- English: MiniLM sentence embeddings + character n-grams + keyword cues -> logistic regression.
- Chinese: character n-grams + keyword cues -> logistic regression (MiniLM reads no Chinese).
- Any other language: the cross-language rules (order and money entities), never a confident
  guess of an English model.
When torch, transformers or scikit-learn are missing, keyword rules per language answer instead.
Every result names the model that answered and says whether it is confident."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nlp import cues, dataset, signals
from nlp.labels import INTENTS
from nlp.languages import MODEL_LANGUAGES, model_language

log = logging.getLogger(__name__)
# Below this probability a verdict is shown as low confidence (tickets still open). From
# `python -m nlp evaluate`: the held-out accuracy of answers above it is about 0.97.
CONFIDENT = 0.5
# A spam verdict may resolve a conversation only above this probability: on the held-out
# examples no legitimate message scored this high as spam (see README, "Intent model").
SPAM_CONFIDENT = 0.8
CUE_WEIGHT = 1.0  # how loud the keyword cues are next to the n-grams and the embedding
CORRECTION_WEIGHT = 3.0  # an agent's correction counts as this many written examples
# The n-grams and cues read the start of a long email, as MiniLM does (256 tokens): the rest is
# mostly quoted text and signatures, and reading it halved the throughput on emails.
NGRAM_CHARS = 1500
_TOKENS_WITH_DIGITS = re.compile(r"[#$€£¥]?[^\W\d_]*-?\d[\w.,-]*")


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)
    model: str = ""
    confident: bool = False


class Classifier(Protocol):
    model: str

    def predict(self, texts: list[str]) -> list[IntentResult]: ...


def is_confident(intent: str, confidence: float) -> bool:
    return confidence >= (SPAM_CONFIDENT if intent == "spam" else CONFIDENT)


def normalised(text: str) -> str:
    """Order ids, amounts and dates all read alike to the n-grams: "refund 0"."""
    return _TOKENS_WITH_DIGITS.sub(" 0 ", text.lower())


class IntentModel:
    """One language's features and logistic-regression head."""

    def __init__(self, lang: str, encoder: Any | None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.lang = lang
        self._encoder = encoder
        self._embeds = encoder is not None
        self.model = f"{encoder.name}+ngrams+logreg" if encoder else f"{lang}-char-ngrams+logreg"
        span = (1, 3) if lang == "zh" else (2, 5)
        self._ngrams = TfidfVectorizer(analyzer="char_wb", ngram_range=span, sublinear_tf=True)
        self._head: Any = None

    def fit(self, texts: Sequence[str], intents: Sequence[str], weights: Sequence[float]) -> IntentModel:
        from sklearn.linear_model import LogisticRegression

        self._ngrams.fit([normalised(t) for t in texts])
        self._head = LogisticRegression(C=16.0, max_iter=3000, class_weight="balanced")
        self._head.fit(self._features(texts), list(intents), sample_weight=list(weights))
        return self

    def _features(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import csr_matrix, hstack

        heads = [t[:NGRAM_CHARS] for t in texts]
        parts = [self._ngrams.transform([normalised(t) for t in heads])]
        parts.append(csr_matrix([cues.counts(t, self.lang) for t in heads], dtype=float) * CUE_WEIGHT)
        if self._encoder is not None:
            parts.append(csr_matrix(self._encoder.encode(list(texts))))
        return hstack(parts).tocsr()

    def predict(self, texts: list[str]) -> list[IntentResult]:
        if not texts:
            return []
        labels = list(self._head.classes_)
        results = []
        for row in self._head.predict_proba(self._features(texts)):
            ranking = sorted(zip(labels, (round(float(p), 4) for p in row), strict=True), key=lambda r: -r[1])
            intent, confidence = ranking[0]
            results.append(
                IntentResult(intent, confidence, ranking, self.model, is_confident(intent, confidence))
            )
        return results

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_encoder"}  # the encoder is not ours to save

    def attached(self, encoder: Any) -> IntentModel:
        """Ready to predict after unpickling: the encoder it was trained with, if any."""
        self._encoder = encoder if self._embeds else None
        return self


class RulesClassifier:
    """Keyword cues: the fallback that keeps the hub useful when the model cannot load. A
    rules verdict is never confident, so it never resolves a conversation on its own."""

    model = "rules"

    def __init__(self, lang: str = "en") -> None:
        self._lang = lang

    def predict(self, texts: list[str]) -> list[IntentResult]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> IntentResult:
        scores = dict(zip(INTENTS, cues.counts(text, self._lang), strict=True))
        total = sum(scores.values())
        if total == 0:
            return IntentResult("other", 1.0, [("other", 1.0)], self.model)
        ranking = sorted(((i, round(s / total, 4)) for i, s in scores.items() if s), key=lambda r: -r[1])
        return IntentResult(ranking[0][0], ranking[0][1], ranking, self.model)


class CrossLanguageRules:
    """For languages no model reads: an order number asks for support, an amount is billing,
    otherwise "other". Opt-out words in major languages are `signals.opt_out`'s."""

    model = "rules:cross-language"

    def predict(self, texts: list[str]) -> list[IntentResult]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> IntentResult:
        found = {e["type"] for e in signals.entities(text)}
        intent = "support_request" if "order" in found else "billing" if "money" in found else "other"
        return IntentResult(intent, 0.5, [(intent, 0.5)], self.model)


class LanguageRouter:
    """Each message to the classifier of its language; the rest to the cross-language rules."""

    def __init__(self, by_language: dict[str, Classifier]) -> None:
        self._by_language = by_language
        self._foreign = CrossLanguageRules()
        self.model = ", ".join(f"{lang}:{c.model}" for lang, c in by_language.items())

    def predict(self, texts: list[str]) -> list[IntentResult]:
        groups: dict[str, list[int]] = {}
        for index, text in enumerate(texts):
            groups.setdefault(model_language(text), []).append(index)
        out: list[IntentResult | None] = [None] * len(texts)
        for lang, indices in groups.items():
            classifier = self._by_language.get(lang, self._foreign)
            for index, result in zip(indices, classifier.predict([texts[i] for i in indices]), strict=True):
                out[index] = result
        return [r for r in out if r is not None]


def train_models(
    encoder: Any, examples: Sequence[dataset.Example], corrections: Sequence[dataset.Example] = ()
) -> dict[str, IntentModel]:
    """One model per language, trained on `examples` plus weighted corrections."""
    models = {}
    for lang in MODEL_LANGUAGES:
        own = [e for e in examples if e.lang == lang]
        fixes = [c for c in corrections if c.lang == lang]
        texts = [e.text for e in own] + [c.text for c in fixes]
        intents = [e.intent for e in own] + [c.intent for c in fixes]
        weights = [1.0] * len(own) + [CORRECTION_WEIGHT] * len(fixes)
        models[lang] = IntentModel(lang, encoder if lang == "en" else None).fit(texts, intents, weights)
    return models


def router(models: dict[str, IntentModel], encoder: Any) -> LanguageRouter:
    return LanguageRouter({lang: model.attached(encoder) for lang, model in models.items()})


def cache_dir() -> Path:
    return Path(os.environ.get("HUB_NLP_CACHE_DIR") or Path.home() / ".cache" / "omnichannel-hub")


def models_path(encoder_path: str) -> Path:
    """Where the models for this data and encoder are kept (`python -m nlp train` rewrites it)."""
    key = hashlib.sha256(dataset.fingerprint() + encoder_path.encode()).hexdigest()[:16]
    return cache_dir() / f"intent-models-{key}.pickle"


def save_models(models: dict[str, IntentModel], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(models))
    partial.replace(path)  # a reader never sees half a file


def load_classifier() -> Classifier:
    """The per-language models (trained on first use and cached), or the rules per language
    with one warning when torch, transformers, scikit-learn or the model are unavailable."""
    try:
        from nlp.encoder import Encoder, model_path

        encoder = Encoder()
        cached = models_path(model_path())
        if cached.exists():
            models = pickle.loads(cached.read_bytes())
        else:
            models = train_models(encoder, dataset.load())
            save_models(models, cached)
        return router(models, encoder)
    except Exception as exc:
        log.warning(
            "intent model unavailable; using the rules classifier",
            extra={"error": f"{exc.__class__.__name__}: {exc}"},
        )
        return LanguageRouter({lang: RulesClassifier(lang) for lang in MODEL_LANGUAGES})
