"""Understanding a question: its content terms, what kind of answer it wants, and whether it is
a follow-up of the previous turn. Time words ("this week", "yesterday") are in
:mod:`retrieval.timewords` (re-exported here for ``retrieval.answerer``).

Everything here is a pure function of strings (and ``now``), so it is tested without an index.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from index.textproc import FUNCTION_STEMS, FUNCTION_WORDS, stem, tokenize
from index.textproc import words as tokens
from retrieval.models import Turn

# Re-exported: retrieval/answerer.py imports the time words from here (TODO(issue 10): import
# them from retrieval.timewords there, then drop these three names).
from retrieval.timewords import TimeWords as TimeWords
from retrieval.timewords import merge_filters as merge_filters
from retrieval.timewords import parse_time_words as parse_time_words

#: Function words: they carry no topic and must not drive overlap scores (``index.textproc``).
STOPWORDS = FUNCTION_WORDS
_STOP_STEMS = FUNCTION_STEMS

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")
_CAP_WORD = re.compile(r"\b[A-Z][a-zA-Z'’\-]+|\b[A-Z]{2,}\b")


class AnswerType(StrEnum):
    """The kind of thing a question asks for, from its wh-word."""

    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    OTHER = "other"


#: News morphology the Snowball stemmer leaves apart, as groups of words that mean the same
#: event for term overlap: irregular verb forms (won/win, bought/buy, rose/rise, fell/fall) and
#: noun/verb pairs (death/died, growth/grow, loss/lose, sale/sell). The first word of each group
#: is the canonical one: every word's stem is mapped to that word's stem, which is itself an
#: index term (so idf lookups still work). Dying is reported as died, dead, deaths, killed or
#: fatalities: one group. Words with a common unrelated sense are left out ("left", "met",
#: "found", "saw", "lives"). Only overlap features use this; the index and BM25 search keep
#: the plain stems.
LEMMA_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "death",
        "die",
        "died",
        "dies",
        "dying",
        "dead",
        "deaths",
        "kill",
        "killed",
        "killing",
        "fatal",
        "fatalities",
        "fatality",
    ),
    ("win", "won", "winning"),
    ("lose", "lost", "loss", "losses", "losing"),
    ("buy", "bought", "buying"),
    ("sell", "sold", "sale", "sales", "selling"),
    ("rise", "rose", "risen", "rising"),
    ("fall", "fell", "fallen", "falling"),
    ("grow", "grew", "grown", "growth", "growing"),
    ("pay", "paid", "payment", "payments"),
    ("spend", "spent", "spending"),
    ("hold", "held"),
    ("lead", "led"),
    ("injure", "injured", "injury", "injuries", "wounded", "wound"),
    ("begin", "began", "begun"),
    ("choose", "chose", "chosen", "choice"),
    ("decide", "decided", "decision"),
    ("fight", "fought"),
    ("catch", "caught"),
    ("build", "built"),
    ("teach", "taught"),
    ("bring", "brought"),
    ("think", "thought"),
    ("seek", "sought"),
    ("sink", "sank", "sunk"),
    ("strike", "struck"),
    ("steal", "stole", "stolen", "theft"),
    ("beat", "beaten"),
    ("sue", "sued", "suing"),
    ("take", "took", "taken"),
    ("give", "gave", "given"),
    ("make", "made"),
    ("go", "went", "gone"),
    ("come", "came"),
    ("write", "wrote", "written"),
    ("drive", "drove", "driven"),
    ("run", "ran"),
    ("speak", "spoke", "spoken"),
    ("know", "knew", "known"),
    ("shoot", "shot"),
    ("freeze", "froze", "frozen"),
    ("break", "broke", "broken"),
    ("fly", "flew", "flown"),
    ("send", "sent"),
    ("sing", "sang", "sung"),
    ("born", "birth"),
    ("marry", "married", "marriage"),
)
_LEMMA: dict[str, str] = {
    stem(w): stem(group[0]) for group in LEMMA_GROUPS for w in group
}

#: For each canonical stem, one word per distinct stem of its group (what keyword search adds).
_GROUP_WORDS: dict[str, tuple[str, ...]] = {}
for _group in LEMMA_GROUPS:
    _first: dict[str, str] = {}
    for _w in _group:
        _first.setdefault(stem(_w), _w)
    _GROUP_WORDS[stem(_group[0])] = tuple(_first.values())


def lemma(term: str) -> str:
    """An index term (a stem) mapped to its group's canonical stem (``LEMMA_GROUPS``)."""
    return _LEMMA.get(term, term)


def expand_for_search(text: str) -> str:
    """``text`` plus one other form of each word that ``LEMMA_GROUPS`` joins, for the BM25
    searches: the group's first word ("died" → "death"), or its second when the text already
    has the first ("deaths" → "die"). The index keeps plain stems, so this lets "how many died"
    find "286 deaths". One word per group only: every added form is a separate BM25 term, and
    a sentence saying both "deaths" and "fatalities" must not count the question's word twice.
    """
    extra: dict[str, None] = {}
    for raw in tokens(text):
        term = stem(raw)
        group = _GROUP_WORDS.get(_LEMMA.get(term, ""))
        if group and len(group) > 1:
            extra[group[1] if stem(group[0]) == term else group[0]] = None
    return f"{text} {' '.join(extra)}" if extra else text


def content_terms(text: str) -> list[str]:
    """Index terms (the BM25 tokenizer's stems, so idf lookups line up, with ``lemma`` applied)
    minus question words, in order, duplicates removed."""
    return list(_content_terms(text))


@lru_cache(maxsize=65536)
def _content_terms(text: str) -> tuple[str, ...]:
    # Cached: the same candidate sentences and titles come back question after question.
    terms = [lemma(t) for t in tokenize(text) if t not in _STOP_STEMS]
    return tuple(dict.fromkeys(terms + _stopword_acronyms(text)))


def _stopword_acronyms(text: str) -> list[str]:
    """Acronyms that lower-case to a function word ("IT jobs", "the US economy", "WHO"): kept
    upper-case as terms of their own, or the question's subject would vanish with "it"/"us"."""
    return [m.group(0) for m in _ACRONYM.finditer(text) if m.group(0).lower() in STOPWORDS]


def term_set(text: str) -> frozenset[str]:
    """The content terms of a text as a (cached) set."""
    return _term_set(text)


@lru_cache(maxsize=65536)
def _term_set(text: str) -> frozenset[str]:
    return frozenset(_content_terms(text))


@lru_cache(maxsize=65536)
def term_bigrams(text: str) -> frozenset[tuple[str, str]]:
    """Adjacent content-term pairs ("prime minister", "death toll"): phrase matches."""
    terms = [lemma(t) for t in tokenize(text) if t not in _STOP_STEMS]
    return frozenset(itertools.pairwise(terms))


def numbers_in(text: str) -> set[str]:
    """Numbers as written, without thousands separators ("1,200" → "1200")."""
    return {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}


def capitalised_terms(question: str) -> list[str]:
    """Capitalised words that are not the question's first word nor function words: names."""
    words = _CAP_WORD.findall(question)
    first = tokens(question)[:1]
    out: dict[str, None] = {}
    for w in words:
        low = w.lower().replace("’", "'")
        if low.endswith("'s"):
            low = low[:-2]
        if w.isupper() and low in STOPWORDS:
            out[w] = None  # "IT", "US": see _stopword_acronyms
            continue
        if low in STOPWORDS or (first and low == first[0]):
            continue
        # The index tokenizer splits "Nagorno-Karabakh" and "O'Brien": so must names, or they
        # never match the terms of a sentence.
        for part in tokenize(low):
            if part not in _STOP_STEMS:
                out[lemma(part)] = None
    return list(out)


_NUMBER_Q = re.compile(
    r"\b(how (many|much|old|long|far|big|tall|large|high|often)|"
    r"what (?:(?:is|was|are|were) )?(?:the )?(?:[a-z\-]+ )?(percentage|percent|proportion|"
    r"share|number|amount|sum|price|cost|fee|figure|rate|total|size|value|score|scoreline|margin|"
    r"majority|salary|budget|population|turnout)|"
    r"(death|casualty) toll|how much money)\b",
    re.I,
)
_DATE_Q = re.compile(
    r"\b(when|what (year|date|day|month|time|century|decade|period|season)|"
    r"which (year|date|day|month|century|decade)|since when|in what year|by when|how soon)\b",
    re.I,
)
_PERSON_Q = re.compile(
    r"\b(who|whom|whose|which ([a-z]+ )?(person|man|woman|player|minister|official|leader|company|firm|"
    r"team|club|party|band|group|film|book|newspaper|organisation|organization)|"
    r"what (is|was|were|are) the names? of|"
    r"what ([a-z]+ )?(company|firm|team|club|party|band|group|organisation|organization)|named what|"
    r"called what)\b",
    re.I,
)
_PLACE_Q = re.compile(
    r"\b(where|what (country|city|town|place|state|region|nation|continent|area|location)|"
    r"which (country|city|town|place|state|region|nation|continent|area))\b",
    re.I,
)


def answer_type(question: str) -> AnswerType:
    """The answer type a question's wording asks for ("how many" → number, "when" → date…)."""
    for pattern, kind in (
        (_NUMBER_Q, AnswerType.NUMBER),
        (_DATE_Q, AnswerType.DATE),
        (_PERSON_Q, AnswerType.PERSON),
        (_PLACE_Q, AnswerType.PLACE),
    ):
        if pattern.search(question):
            return kind
    return AnswerType.OTHER


@dataclass
class QueryInfo:
    """What the scorer needs to know about a question (computed once per question)."""

    text: str
    terms: list[str]
    names: list[str]
    numbers: set[str]
    kind: AnswerType
    #: Terms of the previous turn added by follow-up resolution: they count, but less.
    context_terms: list[str] = field(default_factory=list)
    #: The text the terms came from (the question, or a follow-up's own words).
    focus: str = ""


def analyse(question: str, context: str = "") -> QueryInfo:
    """Terms, names, numbers and answer type of a question (``context``: a resolved follow-up's
    borrowed words, which help find the topic but are not what is asked)."""
    terms = content_terms(question)
    ctx = [t for t in content_terms(context) if t not in terms] if context else []
    return QueryInfo(
        text=question,
        terms=terms,
        names=capitalised_terms(question),
        numbers=numbers_in(question),
        kind=answer_type(question),
        context_terms=ctx,
        focus=question,
    )


# ---------------------------------------------------------------------------------------------
# Follow-ups
# ---------------------------------------------------------------------------------------------

_FOLLOWUP_START = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|and what about|what of|same for|"
    r"what else|anything else|more on|tell me more|why|how come)\b",
    re.I,
)
_PRONOUN = re.compile(
    r"\b(he|she|it|they|them|him|her|his|hers|its|their|theirs|that|this|those|these|there|"
    r"the same|the company|the firm|the club|the band|the film|the government|the group)\b",
    re.I,
)


@dataclass
class Resolution:
    """A question after follow-up resolution."""

    question: str
    #: The text searched (question plus borrowed topic words), or the question itself.
    resolved: str
    is_followup: bool
    borrowed: str = ""
    prefer_articles: list[str] = field(default_factory=list)
    #: What is newly asked ("Ganja" in "What about Ganja?"); the borrowed words are context.
    focus: str = ""

    def query_info(self) -> QueryInfo:
        """The scorer's view: the focus as the question, borrowed words as context, and the
        previous question's answer type when the follow-up has none of its own."""
        q = analyse(self.focus or self.resolved, self.borrowed)
        if q.kind == AnswerType.OTHER and self.borrowed:
            q.kind = answer_type(self.borrowed)
        q.text = self.resolved
        return q


def is_followup(question: str, previous: Turn | None) -> bool:
    """A short question that leans on the previous turn: starts with "and/what about…", or
    has a pronoun and too few content words of its own to stand alone."""
    if previous is None:
        return False
    terms = content_terms(question)
    n_words = len(tokens(question))
    if _FOLLOWUP_START.search(question) and n_words <= 10:
        return True
    if n_words <= 8 and _PRONOUN.search(question) and len(capitalised_terms(question)) == 0:
        return True
    return len(terms) <= 1 and n_words <= 5


def resolve_followup(question: str, history: list[Turn] | None) -> Resolution:
    """Resolve a follow-up against the previous turn.

    The topic words of the previous (resolved) question are appended to the search text, and
    the previous answer's articles are preferred. A question that stands on its own is left
    as it is, so a change of subject is never dragged back to the old topic.
    """
    previous = history[-1] if history else None
    if previous is None or not is_followup(question, previous):
        return Resolution(question=question, resolved=question, is_followup=False, focus=question)
    base = previous.resolved_question or previous.question
    own = set(content_terms(question))
    borrowed_words = []
    for tok in re.findall(r"[\w'’\-]+", base):
        low = tok.lower()
        if low in STOPWORDS or len(low) < 2:
            continue
        if lemma(stem(low.removesuffix("'s"))) in own:
            continue
        borrowed_words.append(tok)
    if previous.sentences and _DEMONSTRATIVE.search(question):
        # "who said that?": "that" is the previous answer; its names locate the quote.
        names = _CAP_WORD.findall(previous.sentences[0])[1:9]
        borrowed_words += [w for w in names if w.lower() not in STOPWORDS]
    borrowed = " ".join(dict.fromkeys(borrowed_words))
    cleaned = _FOLLOWUP_START.sub("", question).strip(" ,") or question
    if answer_type(cleaned) == AnswerType.OTHER and not _WH_START.match(cleaned):
        # "What about Ganja?": the previous question, asked again about the new thing.
        resolved = f"{base.rstrip(' ?')} {cleaned.rstrip(' ?')}?"
        return Resolution(question, resolved, True, base, list(previous.article_ids), focus=cleaned)
    resolved = f"{cleaned} ({borrowed})" if borrowed else cleaned
    return Resolution(
        question=question,
        resolved=resolved,
        is_followup=True,
        borrowed=borrowed,
        prefer_articles=list(previous.article_ids),
        focus=cleaned,
    )


_DEMONSTRATIVE = re.compile(r"\b(that|this|it)\b", re.I)
_WH_START = re.compile(
    r"^\s*(what|which|who|whom|whose|when|where|why|how|is|are|was|were|did|do|does)\b", re.I
)
