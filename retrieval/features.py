"""The linear scorer's features, by name: ``FEATURES`` (the one column order), the
``Candidate`` a feature row describes, and ``features`` (the ``(n, len(FEATURES))`` matrix
over candidates: numpy for the vector features, Python per candidate for the rest).

Pure: no index, no model. The weights that combine the columns are in :mod:`retrieval.scoring`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

from retrieval.cues import type_strength
from retrieval.fusion import rrf_score
from retrieval.query import AnswerType, QueryInfo, capitalised_terms, numbers_in, term_bigrams, term_set

#: Feature names, in column order: the one place that order is set. ``features`` fills columns
#: by name, ``WEIGHTS`` and ``CALIBRATION`` are read off named mappings in this order.
FEATURES: tuple[str, ...] = (
    "dense",  # cosine(question, sentence)
    "dense_ctx",  # cosine(question, sentence + previous sentence), the context-aware view
    "lex",  # idf-weighted share of question terms found in the sentence
    "lex_ctx",  # ... in the sentence, the previous one, the title (names only: the article)
    "names",  # share of the question's names/numbers found in sentence/title/previous/article
    "passage",  # 1/sqrt(1+rank) of the best fused passage (chunk) holding the sentence
    "sent_rrf",  # reciprocal-rank fusion of the sentence's own dense and BM25 ranks (x60)
    "type_ok",  # the answer type asked for (number/date/name/place) appears, and is new (0.5: vague)
    "type_missing",  # an answer type was asked for and the sentence has none (1 - type_ok)
    "novelty",  # share of the sentence's terms that are not the question's
    "restate",  # the sentence mostly restates the question (novelty < 0.25)
    "short",  # fewer than 6 words: fragments, datelines
    "preferred",  # from an article the previous turn answered from (follow-ups)
    "missing_rare",  # the rarest question term found nowhere near the sentence (idf share)
    "bigram",  # share of the question's adjacent term pairs found as a phrase in the sentence
    "title",  # idf-weighted share of question terms in the article's title
    "passage_cos",  # dense cosine of the best passage (title + chunk) holding the sentence
    "bm25",  # the sentence's BM25 score relative to the best sentence's
    "dense_x_lex",  # dense cosine x contextual term overlap: both views agree
    "missing_article",  # idf share of question terms found nowhere in what we have of the article
    "negation",  # the question negates ("not", "never") and the sentence and the one before do not
    "missing_number",  # a number of the question appears nowhere in what we have of the article
)
#: Features computed per candidate in Python (the others are numpy over all candidates).
_PER_CANDIDATE: tuple[str, ...] = tuple(f for f in FEATURES if f not in {"dense", "dense_ctx", "dense_x_lex"})
#: ``sent_rrf`` is the sentence's reciprocal-rank fusion score times this (first in one list: ~1).
SENT_RRF_SCALE = 60.0



@dataclass
class Candidate:
    """A sentence that might answer, with what the searches said about it."""

    sentence_id: int
    article_id: str
    position: int
    text: str
    title: str = ""
    prev_text: str = ""
    #: The article's lead sentences before ``prev_text`` (they set the topic; may be empty).
    lead_text: str = ""
    #: 0-based rank of the best fused passage containing it (None: not in a top passage).
    passage_rank: int | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    date: datetime | None = None
    preferred: bool = False
    #: Best dense cosine of a passage (title + chunk) holding the sentence.
    passage_cos: float = 0.0
    #: The sentence's BM25 score over the best sentence's (0 when not a BM25 hit).
    bm25: float = 0.0



#: How many sentences back a follow-up's name still gives a sentence its context.
NAME_WINDOW = 4
_NEGATION = re.compile(r"\b(not|never|no|none|nobody|nothing|neither|nor|without|cannot)\b|n['’]t\b", re.I)


def _names_written_in(terms: Sequence[str], cands: Sequence[Candidate]) -> frozenset[str]:
    """The question's terms that the candidate articles write as names ("karabakh" typed in
    lower case, as people do in chat): they then count as names, as if capitalised."""
    wanted = set(terms)
    found: set[str] = set()
    for c in cands:
        found |= wanted & _capitalised_in(c.text)
        if found == wanted:
            break
    return frozenset(found)


@lru_cache(maxsize=65536)
def _capitalised_in(sentence: str) -> frozenset[str]:
    return frozenset(capitalised_terms(sentence))


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray = rows / norms
    return unit


def features(
    q: QueryInfo,
    qvec: np.ndarray,
    cands: Sequence[Candidate],
    sent_vecs: np.ndarray,
    prev_vecs: np.ndarray,
    idf: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The ``(len(cands), len(FEATURES))`` feature matrix.

    ``sent_vecs``/``prev_vecs`` are the stored unit vectors of each sentence and of the
    sentence before it (zeros when it is the first): nothing is encoded here.
    """
    n = len(cands)
    if n == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    idf = idf or {}
    qv = qvec.reshape(-1).astype(np.float32)
    dense = np.asarray(sent_vecs @ qv, dtype=np.float32)
    q_terms = q.terms + [t for t in q.context_terms if t not in q.terms]
    q_term_set = set(q_terms)
    q_lower = q.text.lower()
    q_names = frozenset(q.names) or _names_written_in(q.terms, cands)
    n_names = len(q_names) + len(q.numbers)
    own_w = [(t, idf.get(t, 1.0)) for t in q.terms]
    own_total = sum(w for _, w in own_w) or 1.0
    ctx_w = [(t, idf.get(t, 1.0)) for t in q.context_terms]
    ctx_total = sum(w for _, w in ctx_w) or 1.0
    idf_max = max((w for _, w in own_w), default=1.0) or 1.0
    q_bigrams = term_bigrams(q.focus)
    article_terms: dict[str, set[str]] = {}
    article_numbers: dict[str, set[str]] = {}
    for c in cands:
        # What we fetched of each article (its candidate sentences, the ones before them, the
        # lead and the title): a question term missing from all of it is missing from the story.
        seen = article_terms.setdefault(c.article_id, set(term_set(c.title)))
        seen |= term_set(c.text) | term_set(c.prev_text) | term_set(c.lead_text)
        if q.numbers:
            nums = article_numbers.setdefault(c.article_id, numbers_in(c.title))
            nums |= numbers_in(f"{c.lead_text} {c.prev_text} {c.text}")
    by_position = {(c.article_id, c.position): term_set(c.text) for c in cands}
    q_negated = bool(_NEGATION.search(q.text))
    rows: list[dict[str, float]] = []
    for c in cands:
        s_terms = term_set(c.text)
        title_terms = term_set(c.title)
        # The rest of the article lends only the question's names, not its common words (those
        # must be near the sentence to show it is the passage asked about): the story's subject
        # is named in the lead or a few sentences on, not again beside the toll ("Karabakh",
        # "Mr Toshitsune"). A follow-up's new name is what is asked ("What about Ganja?"): only
        # the lead and the few sentences before lend it; a detail named elsewhere must be in
        # the sentence that answers.
        if q.context_terms:
            before = (by_position.get((c.article_id, c.position - k)) for k in range(2, NAME_WINDOW + 1))
            named = term_set(c.lead_text).union(*(t for t in before if t))
        else:
            named = frozenset(article_terms[c.article_id])
        seen_terms = article_terms[c.article_id]
        ctx_terms = s_terms | term_set(c.prev_text) | title_terms | (named & q_names)
        lex = sum(w for t, w in own_w if t in s_terms) / own_total
        own_ctx = sum(w for t, w in own_w if t in ctx_terms) / own_total
        if ctx_w:
            # Borrowed follow-up words count at half weight: they locate the topic.
            borrowed = sum(w for t, w in ctx_w if t in ctx_terms) / ctx_total
            lex_ctx = (2 * own_ctx + borrowed) / 3 if own_w else borrowed
        else:
            lex_ctx = own_ctx
        if n_names:
            hits = sum(1 for t in q_names if t in ctx_terms)
            if q.numbers:
                nums = numbers_in(" ".join((c.title, c.lead_text, c.prev_text, c.text)))
                hits += sum(1 for x in q.numbers if x in nums)
            names = hits / n_names
        else:
            names = 1.0
        passage = 0.0 if c.passage_rank is None else 1.0 / math.sqrt(1.0 + c.passage_rank)
        type_ok = type_missing = 0.0
        if q.kind != AnswerType.OTHER:
            type_ok = type_strength(q.kind, c.text, q.numbers, q_lower)
            type_missing = 1.0 - type_ok
        novelty = len(s_terms - q_term_set) / len(s_terms) if s_terms else 0.0
        missing = max((w for t, w in own_w if t not in ctx_terms), default=0.0) / idf_max
        bigram = len(q_bigrams & term_bigrams(c.text)) / len(q_bigrams) if q_bigrams else 0.0
        title = sum(w for t, w in own_w if t in title_terms) / own_total
        rows.append(
            {
                "lex": lex,
                "lex_ctx": lex_ctx,
                "names": names,
                "passage": passage,
                "sent_rrf": rrf_score((c.dense_rank, c.bm25_rank), weight=SENT_RRF_SCALE),
                "type_ok": type_ok,
                "type_missing": type_missing,
                "novelty": novelty,
                "restate": 1.0 if novelty < 0.25 else 0.0,
                "short": 1.0 if len(c.text.split()) < 6 else 0.0,
                "preferred": 1.0 if c.preferred else 0.0,
                "missing_rare": missing,
                "bigram": bigram,
                "title": title,
                "passage_cos": c.passage_cos,
                "bm25": c.bm25,
                "missing_article": sum(w for t, w in own_w if t not in seen_terms) / own_total,
                "negation": 1.0 if q_negated and not _NEGATION.search(f"{c.prev_text} {c.text}") else 0.0,
                "missing_number": 1.0 if q.numbers - article_numbers.get(c.article_id, set()) else 0.0,
            }
        )
    columns: dict[str, np.ndarray] = {
        "dense": dense,
        "dense_ctx": np.asarray(_unit(sent_vecs + 0.5 * prev_vecs) @ qv, dtype=np.float32),
    }
    for name in _PER_CANDIDATE:
        columns[name] = np.asarray([r[name] for r in rows], dtype=np.float32)
    columns["dense_x_lex"] = columns["dense"] * columns["lex_ctx"]
    return feature_matrix(columns, n)


def feature_matrix(columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The ``(n, len(FEATURES))`` float32 matrix of named columns, in ``FEATURES`` order.

    Raises ValueError unless ``columns`` names exactly the features: a feature added to
    ``FEATURES`` but not computed (or computed under another name) cannot go unnoticed.
    """
    if set(columns) != set(FEATURES):
        missing = [f for f in FEATURES if f not in columns]
        extra = sorted(set(columns) - set(FEATURES))
        raise ValueError(f"feature columns do not match FEATURES (missing {missing}, unknown {extra})")
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    for i, name in enumerate(FEATURES):
        out[:, i] = columns[name]
    return out
