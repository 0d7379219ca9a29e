"""Answer-type cues in a sentence (pure text functions): does it hold a figure for "how many",
a date for "when", a name the question does not already hold for "who" or "where"?

``features.features`` turns them into the ``type_ok`` feature; kept apart so scoring stays about
combining features, and these rules can be read (and tested) on their own.
"""

from __future__ import annotations

import re
from functools import lru_cache

from index.textproc import FUNCTION_WORDS, words
from retrieval.query import AnswerType, numbers_in

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
]
_MONTH_SET = frozenset(_MONTHS)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_DATE_WORDS = re.compile(
    r"\b(" + "|".join(_MONTHS) + r"|century|centuries|decade|yesterday|today|tonight|"
    r"last (week|month|year|night)|this (week|month|year)|next (week|month|year)|"
    r"\d+(st|nd|rd|th))\b",
    re.I,
)
_NUMBER_WORDS = re.compile(
    r"(\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|million|"
    r"millions|billion|billions|trillion|dozen|dozens|half|third|quarter|double|twice|"
    r"percent|per cent)\b|[£$€¥%]|\d)",
    re.I,
)
#: Quantities that are not a figure: "hundreds or even thousands", "dozens", "millions of".
#: They answer "how many" only vaguely, so they count half as much as "286" or "five".
_VAGUE_NUMBER = re.compile(
    r"\b(?:hundreds|thousands|millions|billions|dozens)\b",
    re.I,
)
_CAPS_RUN = re.compile(r"\b[A-Z][a-zA-Z'’\-]+(?:\s+[A-Z][a-zA-Z'’\-]+)*")
#: Characters after which a capitalised word may only be capitalised because a sentence (or a
#: quotation) starts there.
_SENTENCE_START_AFTER = frozenset(".!?:;\"“‘'(")
_PLACE_PREP = re.compile(r"\b(in|at|from|near|to|across|outside|inside)\s+(the\s+)?[A-Z][a-zA-Z\-]+")


def type_strength(kind: AnswerType, text: str, question_numbers: set[str], question_lower: str) -> float:
    """1.0 when ``text`` contains something of the asked-for type that the question lacks,
    0.5 when it only has a vague quantity for a number question ("hundreds"), else 0.0."""
    if kind == AnswerType.NUMBER:
        if numbers_in(text) - question_numbers:
            return 1.0
        words = re.sub(r"\d", "", text)
        if _NUMBER_WORDS.search(_VAGUE_NUMBER.sub(" ", words)):
            return 1.0
        return 0.5 if _VAGUE_NUMBER.search(words) else 0.0
    return 1.0 if has_type(kind, text, question_numbers, question_lower) else 0.0


def has_type(kind: AnswerType, text: str, question_numbers: set[str], question_lower: str) -> bool:
    """Whether ``text`` contains something of the asked-for type that the question lacks."""
    if kind == AnswerType.NUMBER:
        return type_strength(kind, text, question_numbers, question_lower) == 1.0
    if kind == AnswerType.DATE:
        years = {m.group(1) for m in _YEAR.finditer(text)} - question_numbers
        if years:
            return True
        return any(m.group(0).lower() not in question_lower for m in _DATE_WORDS.finditer(text))
    if kind in (AnswerType.PERSON, AnswerType.PLACE):
        if kind == AnswerType.PLACE and any(
            m.group(0).split()[-1].lower() not in question_lower for m in _PLACE_PREP.finditer(text)
        ):
            return True
        return has_new_name(text, question_lower)
    return False


def _name_word(word: str) -> str:
    word = word.lower().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word


@lru_cache(maxsize=1024)
def _asked_words(question_lower: str) -> frozenset[str]:
    """The question's words as names are compared (once per question, not per candidate)."""
    return frozenset(_name_word(w) for w in words(question_lower))


def has_new_name(text: str, question_lower: str) -> bool:
    """Whether ``text`` names someone or something the question does not.

    A name is a run of capitalised words. At a sentence's start a capital proves nothing, so a
    lone word there ("Police said") is not a name, a leading function word is dropped ("The
    Arvenia Summit") and two capitalised words count ("Jack Law, chief executive of ...").
    A run sharing a word with the question is the question's own subject ("Donald Young's
    first appearance", "the San Jose Open"), not an answer to "who".
    """
    asked = _asked_words(question_lower)
    for m in _CAPS_RUN.finditer(text):
        words = m.group(0).split()
        before = text[: m.start()].rstrip()
        if not before or before[-1] in _SENTENCE_START_AFTER:
            if words[0].lower() in FUNCTION_WORDS:
                words = words[1:]
            elif len(words) < 2:
                continue
        words = [w for w in words if w.lower() not in _MONTH_SET and w.lower() not in FUNCTION_WORDS]
        if words and not any(_name_word(w) in asked for w in words):
            return True
    return False
