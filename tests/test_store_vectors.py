"""The FAISS helpers: exact search gives a float32 flat search's hits and scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.store.vectors import build_faiss, dense_search, faiss, read_faiss, write_faiss

DIM = 64
K = 20


def _near_duplicates(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in tight clusters (news repeats itself): many scores a rounding apart."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 25, DIM)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.01 * rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64) * 7 + 11  # external ids, not positions
    return ids, x


def _plain_flat(ids: np.ndarray, x: np.ndarray) -> object:
    """The float32 exact index every version used before: the reference."""
    index = faiss.index_factory(DIM, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
    index.add_with_ids(x, ids)
    return index


def _assert_same_hits(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


@pytest.fixture(scope="module")
def written_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, Path]:
    ids, x = _near_duplicates(3000)
    path = tmp_path_factory.mktemp("vectors") / "sentences.faiss"
    write_faiss(build_faiss(ids, x, "flat", DIM), path)
    return ids, x, path


def test_exact_index_returns_the_flat_hits_and_scores(
        written_index: tuple[np.ndarray, np.ndarray, Path]) -> None:
    ids, x, path = written_index
    index, reference = read_faiss(path), _plain_flat(ids, x)
    for q in x[:40]:
        _assert_same_hits(dense_search(index, q, K, None), dense_search(reference, q, K, None))


def test_exact_index_filters_by_external_ids(written_index: tuple[np.ndarray, np.ndarray, Path]) -> None:
    ids, x, path = written_index
    index, reference = read_faiss(path), _plain_flat(ids, x)
    allowed = ids[::3]
    for q in x[:40]:
        hits = dense_search(index, q, K, allowed)
        assert len(hits) == K and {i for i, _ in hits} <= set(allowed.tolist())
        _assert_same_hits(hits, dense_search(reference, q, K, allowed))


def test_exact_index_gives_back_the_float32_vectors(
        written_index: tuple[np.ndarray, np.ndarray, Path]) -> None:
    ids, x, path = written_index
    index = read_faiss(path)
    assert np.array_equal(index.reconstruct_batch(ids[[5, 17, 2999]]), x[[5, 17, 2999]])


def test_an_index_written_as_plain_flat_is_still_searched(tmp_path: Path) -> None:
    ids, x = _near_duplicates(500)
    old = faiss.index_factory(DIM, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
    old.add_with_ids(x, ids)
    write_faiss(old, tmp_path / "old.faiss")
    index = read_faiss(tmp_path / "old.faiss")
    best = dense_search(index, x[0], K, None)
    assert best[0][0] == ids[0] and best[0][1] == pytest.approx(1.0, abs=1e-5)
    filtered = dense_search(index, x[1], K, ids[::2])
    assert len(filtered) == K and {i for i, _ in filtered} <= set(ids[::2].tolist())


def test_the_exact_index_scans_integer_codes_of_scaled_vectors(tmp_path: Path) -> None:
    ids, x = _near_duplicates(100)
    write_faiss(build_faiss(ids, x, "flat", DIM), tmp_path / "x.faiss")
    index = read_faiss(tmp_path / "x.faiss")  # held: the parts below live inside it
    inner = faiss.downcast_index(faiss.downcast_index(index).index)
    assert isinstance(inner, faiss.IndexRefine) and inner.k_factor == 4.0
    scan = faiss.downcast_index(inner.base_index)
    assert isinstance(scan, faiss.IndexPreTransform)
    codes = faiss.downcast_index(scan.index)
    assert codes.sq.qtype == faiss.ScalarQuantizer.QT_8bit_direct_signed
    scaled = faiss.downcast_VectorTransform(scan.chain.at(0)).apply(x)  # unit vectors x 127
    np.testing.assert_allclose(scaled, 127.0 * x, rtol=1e-6)
    decoded = codes.sa_decode(codes.sa_encode(scaled))  # whole numbers within 1 of the scaled values
    assert np.array_equal(decoded, np.round(decoded)) and np.max(np.abs(decoded - scaled)) < 1.0


def test_an_index_written_with_the_half_precision_scan_is_still_searched(tmp_path: Path) -> None:
    ids, x = _near_duplicates(1000)
    old = faiss.index_factory(DIM, "IDMap2,SQfp16,RFlat", faiss.METRIC_INNER_PRODUCT)
    faiss.downcast_index(old.index).k_factor = 4.0
    old.add_with_ids(x, ids)
    write_faiss(old, tmp_path / "old.faiss")
    index, reference = read_faiss(tmp_path / "old.faiss"), _plain_flat(ids, x)
    for q in x[:10]:
        _assert_same_hits(dense_search(index, q, K, None), dense_search(reference, q, K, None))
        _assert_same_hits(dense_search(index, q, K, ids[::3]), dense_search(reference, q, K, ids[::3]))


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_tiny_exact_indexes_are_written_and_searched(tmp_path: Path, n: int) -> None:
    ids, x = _near_duplicates(50)
    ids, x = ids[:n], x[:n]
    write_faiss(build_faiss(ids, x, "flat", DIM), tmp_path / "tiny.faiss")
    index = read_faiss(tmp_path / "tiny.faiss")
    q = x[0] if n else np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    got = dense_search(index, q, K, None)
    assert len(got) == n
    if n:
        _assert_same_hits(got, dense_search(_plain_flat(ids, x), q, K, None))


def test_queries_with_a_component_larger_than_the_corpus_have_still_the_flat_hits() -> None:
    """The scan turns the query into 8-bit integers too: a spiky query must not overflow them."""
    ids, x = _near_duplicates(2000)
    index, reference = build_faiss(ids, x, "flat", DIM), _plain_flat(ids, x)
    spiky = [np.eye(DIM, dtype=np.float32)[i] for i in range(0, DIM, 7)]
    mixed = x[0] + 3.0 * np.eye(DIM, dtype=np.float32)[5]
    assert np.max(np.abs(x)) < 0.9  # the basis vectors' 1.0 is beyond every stored component
    for q in [*spiky, mixed / np.linalg.norm(mixed), -x[3]]:
        _assert_same_hits(dense_search(index, q, K, None), dense_search(reference, q, K, None))
