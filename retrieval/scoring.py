"""Sentence scoring: the features of each candidate sentence (:mod:`retrieval.features`),
combined by a small logistic model, and the calibrated confidence of the best one.

Pure functions over dataclasses and numpy arrays: no index, no model. The feature set is
deliberately small and explainable (see ``FEATURES``); ``bench/fit_weights.py`` fits the
weights and the calibration on half of SQuAD v1.1/v2.0 dev and reports the other half
(``bench/retrieval_bench.py`` measures the whole pipeline), news questions are checked with
``newsbot eval``, and every feature means the same thing on any corpus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# FEATURES and Candidate are re-exported: callers read them as scoring.FEATURES, scoring.Candidate
from retrieval.features import FEATURES as FEATURES
from retrieval.features import Candidate as Candidate
from retrieval.features import features
from retrieval.query import QueryInfo, term_set


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
    "dense": 2.412,
    "dense_ctx": 2.284,
    "lex": 1.511,
    "lex_ctx": 1.741,
    "names": 0.311,
    "passage": 0.71,
    "sent_rrf": 0.348,
    "type_ok": 0.742,
    "type_missing": -0.742,
    "novelty": 0.764,
    "restate": -0.276,
    "short": -0.294,
    "preferred": 0.8,
    "missing_rare": 0.002,
    "bigram": 0.588,
    "title": -0.148,
    "passage_cos": 0.036,
    "bm25": 0.557,
    "dense_x_lex": 1.486,
    "missing_article": -1.021,
    "negation": -0.359,
    "missing_number": -0.298,
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
    "top_share": 0.571,
    "dense": 1.621,
    "dense_ctx": 1.288,
    "lex": 1.082,
    "lex_ctx": 0.0,
    "names": 0.387,
    "passage": 0.0,
    "sent_rrf": 0.049,
    "type_ok": 0.003,
    "type_missing": -0.235,
    "novelty": -0.14,
    "restate": 0.0,
    "short": -1.333,
    "missing_rare": -0.285,
    "bigram": 0.042,
    "title": 0.165,
    "passage_cos": 0.342,
    "bm25": 0.039,
    "dense_x_lex": 0.0,
    "missing_article": 0.0,
    "negation": -2.237,
    "missing_number": -1.089,
    "intercept": -2.773,
}
#: ``CONFIDENCE_WEIGHTS`` in ``CONFIDENCE_INPUTS`` order, intercept last.
CALIBRATION: tuple[float, ...] = in_order(CONFIDENCE_WEIGHTS, (*CONFIDENCE_INPUTS, "intercept"))


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
