"""One split of SQuAD's dev Wikipedia articles for everything that fits and everything that
measures (reader training, weight fitting, benchmarks).

SQuAD v2.0 dev holds 35 of v1.1 dev's 48 articles and repeats its answerable questions, so
both files must split the same articles the same way: the split follows v1.1 dev's article
order (odd positions held out, even ones fit). Of the fit articles, every
``CALIBRATION_EVERY``-th is kept out of reader training for fitting how the reader's score
is combined and calibrated (a model's scores on its own training data are over-confident).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
CALIBRATION_EVERY = 4


@lru_cache(maxsize=1)
def _v1_articles() -> tuple[str, ...]:
    order: dict[str, None] = {}
    with (SHARED / "squad_v1.1_dev" / "questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            order.setdefault(json.loads(line)["article"], None)
    return tuple(order)


def held_out_articles() -> frozenset[str]:
    """Articles whose questions are never fitted on (measured only)."""
    return frozenset(a for i, a in enumerate(_v1_articles()) if i % 2 == 1)


def calibration_articles() -> frozenset[str]:
    """Fit-half articles kept out of reader training (used to fit the combination)."""
    fit = [a for i, a in enumerate(_v1_articles()) if i % 2 == 0]
    return frozenset(a for i, a in enumerate(fit) if i % CALIBRATION_EVERY == 0)


def part_of(article: str) -> str:
    """``held_out``, ``calibration`` or ``train``."""
    if article in held_out_articles():
        return "held_out"
    if article in calibration_articles():
        return "calibration"
    return "train"
