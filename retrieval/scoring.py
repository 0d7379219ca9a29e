"""Sentence scoring: a few general features per candidate sentence, combined by a small
logistic model, and the calibrated confidence of the best one.

Pure functions over dataclasses and numpy arrays: no index, no model. The feature set is
deliberately small and explainable (see ``FEATURES``); ``bench/fit_weights.py`` fits the
weights and the calibration on half of SQuAD v1.1/v2.0 dev and reports the other half
(``bench/retrieval_bench.py`` measures the whole pipeline), news questions are checked with
``newsbot eval``, and every feature means the same thing on any corpus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np

from retrieval.cues import type_strength
from retrieval.fusion import rrf_score
from retrieval.query import (
    AnswerType,
    QueryInfo,
    capitalised_terms,
    numbers_in,
    term_bigrams,
    term_set,
)

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


def in_order(named: Mapping[str, float], names: Sequence[str]) -> tuple[float, ...]:
    """The values of ``named`` in the order of ``names``; ValueError unless it names exactly
    those (a weight for a feature that no longer exists, or none for a new one, is a bug)."""
    if set(named) != set(names) or len(named) != len(names):
        missing = [n for n in names if n not in named]
        extra = sorted(set(named) - set(names))
        raise ValueError(f"weights do not match their inputs (missing {missing}, unknown {extra})")
    return tuple(float(named[n]) for n in names)


#: Weights of the linear score by feature name (and its intercept), fitted by
#: ``bench/fit_weights.py``: a softmax over each question's candidates, on the even-numbered
#: Wikipedia articles of SQuAD v1.1 dev (the odd-numbered half held out). ``preferred`` never
#: fires on SQuAD (no follow-ups): its weight is set by hand. The scale is arbitrary;
#: ``CALIBRATION`` maps it to a probability.
FEATURE_WEIGHTS: Mapping[str, float] = {
    "dense": 1.569,
    "dense_ctx": 1.884,
    "lex": 1.037,
    "lex_ctx": 2.071,
    "names": 0.322,
    "passage": 1.102,
    "sent_rrf": 0.217,
    "type_ok": 0.78,
    "type_missing": -0.78,
    "novelty": 1.148,
    "restate": -0.284,
    "short": -0.247,
    "preferred": 0.8,
    "missing_rare": -0.02,
    "bigram": 0.586,
    "title": -0.127,
    "passage_cos": 1.04,
    "bm25": 0.608,
    "dense_x_lex": 0.975,
    "missing_article": -1.192,
    "negation": -0.346,
    "missing_number": -0.278,
    "intercept": 0.0,
}
#: ``FEATURE_WEIGHTS`` as the linear model uses them: in ``FEATURES`` order, intercept last.
WEIGHTS: tuple[float, ...] = in_order(FEATURE_WEIGHTS, (*FEATURES, "intercept"))

#: Confidence calibration: a logistic model of "the question is answered by the best sentence",
#: over ``CONFIDENCE_INPUTS``: the best logit, its margin over the best sentence of another
#: article, its share of the softmax over all candidates, and its features (``preferred`` left
#: out: it never fires where the model is fitted), by name, and its intercept. Fitted by
#: ``bench/fit_weights.py`` with signs constrained (a missing term never raises confidence);
#: see its docstring for the data and the split.
CONF_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != "preferred")
#: The calibration's inputs, in order (``confidence_inputs``).
CONFIDENCE_INPUTS: tuple[str, ...] = ("top_logit", "margin", "top_share", *CONF_FEATURES)
CONFIDENCE_WEIGHTS: Mapping[str, float] = {
    "top_logit": 0.0,
    "margin": 0.0,
    "top_share": 0.556,
    "dense": 1.369,
    "dense_ctx": 1.276,
    "lex": 0.972,
    "lex_ctx": 0.0,
    "names": 0.415,
    "passage": 0.0,
    "sent_rrf": 0.0,
    "type_ok": 0.014,
    "type_missing": -0.268,
    "novelty": 0.171,
    "restate": 0.0,
    "short": -0.174,
    "missing_rare": -0.314,
    "bigram": 0.005,
    "title": 0.248,
    "passage_cos": 1.092,
    "bm25": 0.06,
    "dense_x_lex": 0.0,
    "missing_article": 0.0,
    "negation": -2.219,
    "missing_number": -1.244,
    "intercept": -3.248,
}
#: ``CONFIDENCE_WEIGHTS`` in ``CONFIDENCE_INPUTS`` order, intercept last.
CALIBRATION: tuple[float, ...] = in_order(CONFIDENCE_WEIGHTS, (*CONFIDENCE_INPUTS, "intercept"))


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


@dataclass
class Scored:
    """Candidates with their features, logits and probabilities, best first."""

    candidates: list[Candidate]
    features: np.ndarray
    logits: np.ndarray
    probs: np.ndarray
    order: list[int] = field(default_factory=list)
    #: The reader's logit per candidate (NaN where it did not read); None: no reader ran.
    reader: np.ndarray | None = None
    #: The linear model's calibrated confidence, kept when the reader reranked (``rerank.py``).
    linear_confidence: float = 0.0


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


def logits(feats: np.ndarray, weights: Sequence[float] = WEIGHTS) -> np.ndarray:
    """Linear score of each row (the log-odds that the sentence answers)."""
    w = np.asarray(weights, dtype=np.float32)
    out: np.ndarray = feats @ w[:-1] + w[-1]
    return out


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def recency_bonus(cands: Sequence[Candidate], strength: float) -> np.ndarray:
    """A small bonus in [0, strength] growing with the article's date among the candidates.

    A tie-break: when two sentences answer equally well, the newer article's wins (a death
    toll that rose). Undated articles get none.
    """
    stamps = [c.date.timestamp() if c.date is not None else None for c in cands]
    known = [s for s in stamps if s is not None]
    out = np.zeros(len(cands), dtype=np.float32)
    if len(known) < 2 or max(known) == min(known):
        return out
    lo, hi = min(known), max(known)
    for i, s in enumerate(stamps):
        if s is not None:
            out[i] = strength * (s - lo) / (hi - lo)
    return out


def newer_wins_near_ties(
    cands: Sequence[Candidate], lg: np.ndarray, band: float = 1.0, top: int = 10
) -> np.ndarray:
    """When two articles say nearly the same thing (a death toll in Monday's and Thursday's
    story), the newer one's sentence goes first if it scores within ``band`` of the older.

    Differences that small come from passage rank and wording, not from which one answers
    better, and for news the newer figure is the one a reader wants.
    """
    out = lg.copy()
    idx = [int(i) for i in np.argsort(-lg, kind="stable")[:top]]
    terms = {i: term_set(cands[i].text) for i in idx}
    for i in idx:
        for j in idx:
            ci, cj = cands[i], cands[j]
            if (
                ci.article_id != cj.article_id
                and ci.date is not None
                and cj.date is not None
                and cj.date > ci.date
                and out[i] >= out[j]
                and lg[i] - lg[j] < band
                and _jaccard(terms[i], terms[j]) >= 0.5
            ):
                out[j] = out[i] + 1e-3
    return out


def score(
    q: QueryInfo,
    qvec: np.ndarray,
    cands: Sequence[Candidate],
    sent_vecs: np.ndarray,
    prev_vecs: np.ndarray,
    idf: Mapping[str, float] | None = None,
    recency: float = 0.05,
    weights: Sequence[float] = WEIGHTS,
) -> Scored:
    """Features, logits (plus the recency tie-break) and probabilities, ranked best first."""
    feats = features(q, qvec, cands, sent_vecs, prev_vecs, idf)
    lg = logits(feats, weights) + recency_bonus(cands, recency)
    lg = newer_wins_near_ties(cands, lg)
    probs = sigmoid(lg)
    order = [int(i) for i in np.argsort(-lg, kind="stable")]
    return Scored(list(cands), feats, lg, probs, order)


def confidence_inputs(scored: Scored) -> list[float]:
    """The calibration's inputs for the best sentence (``CONFIDENCE_INPUTS``, in order)."""
    best = scored.order[0]
    top = float(scored.logits[best])
    best_article = scored.candidates[best].article_id
    other = next(
        (
            float(scored.logits[i])
            for i in scored.order[1:]
            if scored.candidates[i].article_id != best_article
        ),
        top - 4.0,
    )
    margin = min(top - other, 4.0)
    # The best sentence's share of a softmax over all candidates: one clear winner, or many
    # look-alikes (logits are log-odds, so this is the usual normalisation).
    share = float(1.0 / np.exp(scored.logits - top).sum())
    return [top, margin, share] + [float(scored.features[best, FEATURES.index(f)]) for f in CONF_FEATURES]


def confidence(scored: Scored, calibration: Sequence[float] = CALIBRATION) -> float:
    """Calibrated probability that the best sentence answers the question.

    Uses the best logit, its margin over the best sentence of *another* article (a clear
    winner is more trustworthy than one of many look-alikes), and whether the question's rare
    terms and names are found around it (when they are not, the corpus probably does not
    cover the question, however fluent the best sentence looks).
    """
    if not scored.order:
        return 0.0
    x = confidence_inputs(scored)
    z = sum(w * v for w, v in zip(calibration[:-1], x, strict=True)) + calibration[-1]
    return float(sigmoid(z))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def select(scored: Scored, max_n: int, max_gap: float, skip: int = 0) -> list[int]:
    """Up to ``max_n`` non-redundant candidate indexes, best first.

    A sentence that repeats one already chosen (same text, e.g. a duplicated article, or
    mostly the same words) is skipped; sentences after the first must score within
    ``max_gap`` (in logits) of the first: a much weaker sentence is noise, not an answer.
    ``skip`` leaves out that many selected sentences first (for alternatives).
    """
    chosen: list[int] = []
    seen_terms: list[frozenset[str]] = []
    seen_text: set[str] = set()
    first: float | None = None
    for i in scored.order:
        c = scored.candidates[i]
        norm = " ".join(c.text.lower().split())
        terms = term_set(c.text)
        if norm in seen_text or any(_jaccard(terms, t) > 0.7 for t in seen_terms):
            continue
        lg = float(scored.logits[i])
        if first is None:
            first = lg
        elif lg < first - max_gap:
            break
        chosen.append(i)
        seen_text.add(norm)
        seen_terms.append(terms)
        if len(chosen) >= max_n + skip:
            break
    return chosen[skip:]
