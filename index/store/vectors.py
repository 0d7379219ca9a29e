"""FAISS helpers: which index type, building and reading the id-mapped indexes, dense search.

Every FAISS index of a version is an ``IndexIDMap2`` over inner product whose external ids are
chunk or sentence ids (vectors are unit length, so inner product is cosine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

from index.errors import IndexCorruptError
from index.store.protocols import IndexType

#: The SWIG bindings ship partial type stubs (no SearchParametersHNSW, no downcast results);
#: treat the module as dynamic rather than sprinkle ignores.
faiss: Any = _faiss

#: A FAISS index object (untyped SWIG proxy).
FaissIndex = Any


#: Exact search: a scan of 8-bit integer codes picks ``REFINE_K_FACTOR`` x k candidates, then
#: their float32 vectors give the exact scores and order (``exact_index``). Between questions the
#: reader pushes the index out of the CPU caches, so the scan is paid in bytes read and decode
#: work: 8-bit codes read a quarter of float32, and integer codes need no per-dimension decode
#: (BBC index, 236 questions, 1 thread, caches flushed between questions, chunk + sentence
#: search p50: half-precision scan 3.7 ms, per-dimension 8-bit 3.3, one-range 8-bit 2.7, these
#: integer codes 2.0). Hits and scores equal a plain flat search's unless the true top k fall out
#: of the top ``REFINE_K_FACTOR`` x k by rounding: tests/test_store_vectors.py checks it on
#: near-duplicate vectors (and it held on all 236 bench questions x 2 indexes, with and without a
#: filter). Indexes written before (``IDMap2,Flat``, ``IDMap2,SQfp16,RFlat``) are searched as
#: they are.
REFINE_K_FACTOR = 4.0


def resolve_index_type(requested: str, n_chunks: int, approximate_above: int) -> IndexType:
    """``auto`` → exact search while small (it is fast and perfect), HNSW beyond the threshold."""
    if requested == "auto":
        return "hnsw" if n_chunks > approximate_above else "flat"
    if requested in ("flat", "hnsw", "ivf"):
        return requested  # type: ignore[return-value]
    raise ValueError(f"unknown index type {requested!r}")


def build_faiss(ids: np.ndarray, vectors: np.ndarray, index_type: IndexType, dim: int) -> FaissIndex:
    """An ``IndexIDMap2`` over inner product (vectors are unit length → cosine)."""
    n = int(ids.shape[0])
    if index_type == "hnsw":
        index = faiss.index_factory(dim, "IDMap2,HNSW32,Flat", faiss.METRIC_INNER_PRODUCT)
        inner = faiss.downcast_index(index.index)
        inner.hnsw.efConstruction = 80
        inner.hnsw.efSearch = 64
    elif index_type == "ivf" and n >= 2 * 39:
        nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
        index = faiss.index_factory(dim, f"IDMap2,IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        faiss.downcast_index(index.index).nprobe = max(1, min(nlist, 16))
    else:  # flat, or IVF with too few vectors to train on
        index = exact_index(vectors, dim)
    if n:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def exact_index(vectors: np.ndarray, dim: int) -> FaissIndex:
    """An empty exact index for ``vectors``: ``IDMap2`` over a refine of an integer-code scan.

    The scan sees every vector times ``s = 127`` (a linear transform the index keeps, applied
    to queries too), stored as signed 8-bit integers (FAISS's ``QT_8bit_direct_signed`` keeps
    ``floor(s * x)``); its SIMD scan also turns the scaled query into 8-bit integers. Unit vectors
    have every component in [-1, 1], so neither ever leaves [-127, 127] (the factor shrinks for
    longer stored vectors; a query must be unit length, as every search's is). The scan scores
    ``s**2 * q . x`` up to rounding, which only has to keep the true top k within its top
    ``REFINE_K_FACTOR`` x k (BBC, 236 questions: the true top 30 were within the first 45 of 120);
    the refine stage holds the float32 vectors and gives the exact scores.
    """
    peak = float(np.max(np.abs(vectors))) if len(vectors) else 1.0
    scale = 127.0 / max(1.0, peak)
    transform = faiss.LinearTransform(dim, dim, False)
    faiss.copy_array_to_vector((np.eye(dim, dtype=np.float32) * scale).ravel(), transform.A)
    faiss.copy_array_to_vector(np.zeros(dim, dtype=np.float32), transform.b)
    transform.is_trained = True
    codes = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit_direct_signed,
                                       faiss.METRIC_INNER_PRODUCT)
    refine = faiss.IndexRefineFlat(faiss.IndexPreTransform(transform, codes))
    refine.k_factor = REFINE_K_FACTOR
    return faiss.IndexIDMap2(refine)


def write_faiss(index: FaissIndex, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_faiss(path: Path, read_only: bool = True) -> FaissIndex:
    """Load one FAISS file; IndexCorruptError naming the file when it cannot be read."""
    try:
        if read_only:
            return faiss.read_index(str(path), faiss.IO_FLAG_READ_ONLY)
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else "read error"
        raise IndexCorruptError(f"{path}: unreadable FAISS index ({reason})") from None


def faiss_ids(index: FaissIndex) -> np.ndarray:
    """External ids held by an IndexIDMap(2), in insertion order."""
    return np.asarray(faiss.vector_to_array(faiss.downcast_index(index).id_map), dtype=np.int64)


def dense_search(index: FaissIndex, vector: np.ndarray, k: int,
                 allowed_ids: np.ndarray | None) -> list[tuple[int, float]]:
    """Top ``k`` (id, inner product) for one query vector, best first, optionally among
    ``allowed_ids`` only."""
    if k <= 0 or index.ntotal == 0:
        return []
    q = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
    if q.shape[1] != index.d:
        raise ValueError(f"query vector has dimension {q.shape[1]}, the index {index.d}")
    params = None
    if allowed_ids is not None:
        allowed = np.ascontiguousarray(np.asarray(allowed_ids, dtype=np.int64))
        if allowed.size == 0:
            return []
        inner = faiss.downcast_index(faiss.downcast_index(index).index)
        if isinstance(inner, faiss.IndexHNSW) and allowed.size <= 4096:
            # Filtered graph search loses recall on small subsets; exact is cheap there.
            return _exact_subset(index, q, k, allowed)
        sel = faiss.IDSelectorBatch(allowed)
        if isinstance(inner, faiss.IndexRefine):
            # IDMap2 translates a selector only on plain SearchParameters (it slices any other
            # kind), so the refine search gets a selector already translated to internal ids.
            translated = faiss.IDSelectorTranslated(faiss.downcast_index(index).id_map, sel)
            params = faiss.IndexRefineSearchParameters(
                k_factor=inner.k_factor, base_index_params=faiss.SearchParameters(sel=translated))
        elif isinstance(inner, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=sel, nprobe=inner.nprobe)
        elif isinstance(inner, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(inner.hnsw.efSearch, 4 * k))
        else:
            params = faiss.SearchParameters(sel=sel)
        k = min(k, int(allowed.size))
    k = min(k, int(index.ntotal))
    # One query is too small to share among OpenMP threads: a team of spinning threads
    # costs ~40 ms on a busy 2-core machine against ~2 ms single-threaded.  The setting is
    # per calling thread, so it is restored at once and torch's own threads are untouched.
    prev_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, labels = index.search(q, k, params=params)
    finally:
        faiss.omp_set_num_threads(prev_threads)
    # Ties (duplicate texts) in id order, as the Milvus backend returns them.
    return sorted(((int(i), float(s)) for i, s in zip(labels[0], scores[0], strict=True) if i >= 0),
                  key=lambda h: (-h[1], h[0]))


def _exact_subset(index: FaissIndex, q: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
    vecs = index.reconstruct_batch(allowed)
    sims = vecs @ q[0]
    order = np.argsort(-sims, kind="stable")[:k]
    return [(int(allowed[i]), float(sims[i])) for i in order]
