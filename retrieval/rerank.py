"""The reader's say in the ranking and in the confidence (pure functions over numpy).

The linear scorer (``scoring.py``) ranks every candidate cheaply; the reader
(``reader.py``) then reads the best ``n`` with the question. Their logits are combined by
``COMBINATION`` (fitted by ``bench/fit_reader.py``), the best ``n`` are reordered by it and
stay ahead of the rest, and the confidence becomes a logistic model over the reader's view
of the winner and the linear model's calibrated confidence (``READER_CALIBRATION``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from retrieval import scoring

#: What the combined logit weighs, in order.
COMBINATION_INPUTS: tuple[str, ...] = ("reader", "linear")
#: Combined logit = w_reader * reader logit + w_linear * linear logit, over the reranked top.
#: Fitted by ``bench/fit_reader.py`` on SQuAD's calibration articles (kept out of the reader's
#: training): a softmax over each question's reranked candidates.
COMBINATION_WEIGHTS: Mapping[str, float] = {
    "reader": 0.284,
    "linear": 0.64,
}
#: ``COMBINATION_WEIGHTS`` in ``COMBINATION_INPUTS`` order.
COMBINATION: tuple[float, ...] = scoring.in_order(COMBINATION_WEIGHTS, COMBINATION_INPUTS)

#: The confidence's inputs with the reader (``reader_confidence_inputs``, in order).
READER_CONFIDENCE_INPUTS: tuple[str, ...] = (
    "reader_top",  # the reader's logit for the best sentence
    "reader_max",  # the reader's highest logit over the reranked candidates
    "reader_share",  # the best sentence's share of a softmax over [none = 0, reader logits]
    "combined_margin",  # the best combined logit over the best of another article (capped)
    "linear_logit",  # the linear model's calibrated confidence, as log-odds
)
#: Logistic weights over ``READER_CONFIDENCE_INPUTS`` by name (and the intercept), fitted by
#: ``bench/fit_reader.py`` with every input allowed only to raise the confidence.
READER_CONFIDENCE_WEIGHTS: Mapping[str, float] = {
    "reader_top": 0.058,
    "reader_max": 0.072,
    "reader_share": 1.068,
    "combined_margin": 0.187,
    "linear_logit": 0.636,
    "intercept": -1.032,
}
#: ``READER_CONFIDENCE_WEIGHTS`` in ``READER_CONFIDENCE_INPUTS`` order, intercept last.
READER_CALIBRATION: tuple[float, ...] = scoring.in_order(
    READER_CONFIDENCE_WEIGHTS, (*READER_CONFIDENCE_INPUTS, "intercept")
)
#: The margin input is capped: beyond this many logits a lead is a lead.
MARGIN_CAP = 4.0
#: Candidates outside the reranked top sit this far below its weakest one.
BELOW_TOP = 1.0


def rerank(
    scored: scoring.Scored, reader_logits: np.ndarray, combination: Sequence[float] = COMBINATION
) -> scoring.Scored:
    """``scored`` with its first ``len(reader_logits)`` candidates (in ``scored.order``)
    rescored by the combination and reordered; the rest follow in their old order.

    ``reader`` in the result holds the reader's logit per candidate (NaN where it did not read).
    """
    n = len(reader_logits)
    top = scored.order[:n]
    rest = scored.order[n:]
    logits = scored.logits.astype(np.float64).copy()
    reader = np.full(len(scored.candidates), np.nan)
    if n == 0:
        return scored
    w_reader, w_linear = combination
    combined = w_reader * reader_logits.astype(np.float64) + w_linear * logits[top]
    reader[top] = reader_logits
    floor = float(combined.min()) - BELOW_TOP
    # The rest keep their linear order and spacing, shifted under the reranked top.
    if rest:
        shift = floor - float(logits[rest[0]])
        logits[rest] = logits[rest] + shift
    logits[top] = combined
    order = [top[i] for i in np.argsort(-combined, kind="stable")] + list(rest)
    return scoring.Scored(
        scored.candidates,
        scored.features,
        logits,
        scoring.sigmoid(logits),
        order,
        reader=reader,
        linear_confidence=scoring.confidence(scored),
    )


def reader_confidence_inputs(scored: scoring.Scored) -> list[float]:
    """``READER_CONFIDENCE_INPUTS`` for a reranked ``Scored`` (best first)."""
    best = scored.order[0]
    read = scored.reader[~np.isnan(scored.reader)] if scored.reader is not None else np.zeros(0)
    top = (
        float(scored.reader[best]) if scored.reader is not None and not np.isnan(scored.reader[best]) else 0.0
    )
    r_max = float(read.max()) if read.size else top
    share = float(np.exp(top) / (1.0 + np.exp(read).sum())) if read.size else 0.0
    best_article = scored.candidates[best].article_id
    lead = float(scored.logits[best])
    other = next(
        (
            float(scored.logits[i])
            for i in scored.order[1:]
            if scored.candidates[i].article_id != best_article
        ),
        lead - MARGIN_CAP,
    )
    lin = min(max(scored.linear_confidence, 1e-6), 1 - 1e-6)
    return [top, r_max, share, min(lead - other, MARGIN_CAP), float(np.log(lin / (1 - lin)))]


def reader_confidence(scored: scoring.Scored, calibration: Sequence[float] = READER_CALIBRATION) -> float:
    """Calibrated probability that the best reranked sentence answers the question."""
    if not scored.order:
        return 0.0
    x = reader_confidence_inputs(scored)
    z = sum(w * v for w, v in zip(calibration[:-1], x, strict=True)) + calibration[-1]
    return float(scoring.sigmoid(z))


def answer_confidence(scored: scoring.Scored) -> float:
    """The reader's calibrated confidence when it reranked, else the linear model's."""
    return reader_confidence(scored) if scored.reader is not None else scoring.confidence(scored)
