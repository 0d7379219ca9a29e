"""bf16 batch encoding (index builds) against fp32: the vectors an index stores must agree."""

from __future__ import annotations

import numpy as np
import pytest

from index.embedding import BF16_MIN_BATCH, SentenceTransformerEmbedder

TEXTS = [
    f"Story {i}: the council approved a budget of {i} million pounds for schools and roads, "
    "and the opposition said the money would not reach the northern districts in time."
    for i in range(BF16_MIN_BATCH * 2)
]


@pytest.mark.slow
def test_bf16_batches_match_fp32_and_single_queries_stay_fp32() -> None:
    fp32 = SentenceTransformerEmbedder(threads=1, precision="fp32")
    bf16 = SentenceTransformerEmbedder(threads=1, precision="bf16")
    a, b = fp32.encode(TEXTS), bf16.encode(TEXTS)
    assert b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert float((a * b).sum(axis=1).min()) > 0.999
    # the nearest neighbour of every text is the same either way
    assert ((a @ a.T).argsort(1)[:, -2] == (b @ b.T).argsort(1)[:, -2]).all()
    query = ["who approved the budget?"]
    assert np.array_equal(fp32.encode(query), bf16.encode(query))
