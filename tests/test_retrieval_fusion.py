"""``retrieval.fusion``: the one reciprocal-rank fusion (passages, and each sentence's ``sent_rrf``)."""

from __future__ import annotations

import pytest

from retrieval.fusion import RRF_K, ranks, rrf, rrf_score


def test_rrf_score_is_what_rrf_gives_one_item() -> None:
    dense, bm25 = ["a", "b", "c"], ["c", "d", "a"]
    fused = rrf([dense, bm25])
    dense_rank, bm25_rank = ranks(dense), ranks(bm25)
    for key in "abcd":
        assert rrf_score((dense_rank.get(key), bm25_rank.get(key))) == fused[key]
    assert rrf_score([None, None]) == 0.0


def test_sent_rrf_keeps_its_scale() -> None:
    # The sentence feature was 60 / (61 + rank) per list, to the last bit (its weight was fitted so).
    for a in (None, 0, 3, 57):
        for b in (None, 0, 9):
            expected = 0.0
            for r in (a, b):
                if r is not None:
                    expected += 60.0 / (61.0 + r)
            assert rrf_score((a, b), weight=60.0) == expected


@pytest.mark.parametrize("k", [RRF_K, 1])
def test_rrf_weights(k: int) -> None:
    assert rrf([["x"], ["x"]], k=k, weights=[2.0, 1.0]) == {"x": 3.0 / (k + 1)}
