"""Fusing ranked lists (dense and BM25) into one.

Reciprocal rank fusion needs no score calibration between the two searches, which matters
here: BM25 scores are unbounded and query-dependent, cosines live in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

#: The usual RRF constant (Cormack et al. 2009); it damps the weight of the very first ranks.
RRF_K = 60


def rrf(
    rankings: Sequence[Sequence[K]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[K, float]:
    """Reciprocal-rank-fused scores: ``sum_i w_i / (k + rank_i)`` with ranks from 1."""
    weights = weights or [1.0] * len(rankings)
    out: dict[K, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking):
            out[key] = out.get(key, 0.0) + _reciprocal(rank, k, w)
    return out


def rrf_score(ranks: Iterable[int | None], k: int = RRF_K, weight: float = 1.0) -> float:
    """One item's fused score from its 0-based rank in each list (None: not in that list):
    the score :func:`rrf` gives it."""
    total = 0.0
    for rank in ranks:
        if rank is not None:
            total += _reciprocal(rank, k, weight)
    return total


def _reciprocal(rank: int, k: int, weight: float) -> float:
    """``weight / (k + rank)`` for a 0-based ``rank`` counted from 1: the one RRF term."""
    return weight / (k + rank + 1)


def fused_order(rankings: Sequence[Sequence[K]], k: int = RRF_K) -> list[K]:
    """Keys sorted by RRF score, best first (ties keep first-seen order)."""
    scores = rrf(rankings, k)
    return sorted(scores, key=lambda key: -scores[key])


def ranks(ranking: Sequence[K]) -> dict[K, int]:
    """0-based rank of each key in a ranking."""
    return {key: i for i, key in enumerate(ranking)}
