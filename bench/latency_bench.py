"""Per-question latency of the full answer pipeline, with the model loaded.

    .venv/bin/python bench/latency_bench.py [--cache bench/out/bbc] [--rounds 3] [--no-synthetic]

1. Builds (once, cached) the index of the BBC corpus (``../shared/datasets/bbc_news``) plus the
   seed scrape (``../shared/seeds``) through the real pipeline and ingest.
2. Asks the questions of ``bench/bbc_questions.jsonl`` (written for this bench) several times
   and prints p50/p95 of the whole ``Answerer.ask`` and its breakdown: query encode, FAISS,
   BM25, SQLite fetch, scoring. It also prints the eval metrics on those questions, as a sanity
   check of the scorer on news (the questions are few; this is not a benchmark of quality).
3. Grows the FAISS part to 100k and 1M chunks with synthetic unit vectors (added to both the
   chunk and the sentence index, the latter therefore understating a real 1M-chunk corpus's
   sentence count) with the index type the store picks at that size (exact below 200k chunks,
   HNSW above), swaps them into the open reader, and asks the same questions again: every
   stage except FAISS must stay flat.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.embedding import load_embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.settings import DEFAULT_MODEL, IndexSettings  # noqa: E402
from index.store import build_faiss, faiss_ids, resolve_index_type  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import evaluate, load_qa  # noqa: E402

SHARED = ROOT.parent / "shared"
STAGES = ("encode_ms", "faiss_ms", "bm25_ms", "fetch_ms", "score_ms", "total_ms")


def ensure_bbc_index(cache: Path, embedder: Any) -> Path:
    index_dir = cache / "index"
    # Always (re)build: the pipeline re-embeds nothing that is unchanged, so a rerun is cheap.
    sources = [SHARED / "datasets" / "bbc_news" / "bbc_news.jsonl", SHARED / "seeds"]
    t = time.time()
    print(f"indexing {', '.join(map(str, sources))} into {index_dir} ...", flush=True)
    report = build_index(
        sources, IndexSettings(index_dir=index_dir, model=DEFAULT_MODEL), embedder, progress=False
    )
    print(f"  {report.summary_line()} ({time.time() - t:.0f} s)", flush=True)
    return index_dir


def measure(answerer: Answerer, questions: list[str], rounds: int) -> dict[str, tuple[float, float]]:
    """p50/p95 of each stage over ``rounds`` passes of the questions."""
    samples: dict[str, list[float]] = {k: [] for k in STAGES}
    for _ in range(rounds):
        for q in questions:
            a = answerer.ask(q)
            for k in STAGES:
                samples[k].append(a.elapsed_ms if k == "total_ms" else a.timings_ms.get(k, 0.0))
    return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for k, v in samples.items()}


def show(label: str, stats: dict[str, tuple[float, float]]) -> None:
    parts = "  ".join(f"{k[:-3]} {p50:5.1f}/{p95:5.1f}" for k, (p50, p95) in stats.items())
    print(f"  {label:<22} p50/p95 ms: {parts}", flush=True)


def synthetic_index(real: Any, n_total: int, rng: np.random.Generator, dim: int) -> Any:
    """The real vectors plus synthetic unit vectors up to ``n_total``, as the store would build it."""
    ids = faiss_ids(real)
    vecs = real.reconstruct_batch(ids) if len(ids) else np.zeros((0, dim), np.float32)
    n_extra = max(0, n_total - len(ids))
    extra = rng.standard_normal((n_extra, dim), dtype=np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    start = int(ids.max()) + 1 if len(ids) else 0
    all_ids = np.concatenate([ids, np.arange(start, start + n_extra, dtype=np.int64)])
    all_vecs = np.concatenate([vecs, extra])
    kind = resolve_index_type("auto", n_total, IndexSettings().approximate_above)
    t = time.time()
    faiss.omp_set_num_threads(2)  # build with both cores; queries go back to one thread
    index = build_faiss(all_ids, all_vecs, kind, dim)
    faiss.omp_set_num_threads(1)
    print(f"    built {kind} index of {n_total:,} vectors in {time.time() - t:.0f} s", flush=True)
    return index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "bbc")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", type=str, default="100000,1000000")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--index", type=Path, default=None, help="time an existing index instead of BBC")
    args = ap.parse_args()
    embedder = load_embedder(DEFAULT_MODEL)
    index_dir = args.index or ensure_bbc_index(args.cache, embedder)
    answerer = Answerer(index_dir, embedder=embedder)
    qa = load_qa(ROOT / "bench" / "bbc_questions.jsonl")
    questions = [it.question for it in qa]
    for q in questions[:5]:
        answerer.ask(q)  # warm caches (torch, SQLite pages, BM25 mmap)
    m = answerer.reader.manifest
    print(
        f"index {index_dir}: {m.articles} articles, {m.chunks} chunks, "
        f"{m.sentences} sentences ({m.index_type})"
    )
    report = evaluate(answerer.ask, qa)
    print("  sanity check on bench/bbc_questions.jsonl:")
    for line in report.lines():
        print("   ", line)
    show(f"{m.chunks:,} chunks", measure(answerer, questions, args.rounds))
    if args.no_synthetic:
        return
    rng = np.random.default_rng(0)
    reader = answerer.reader
    real_chunks, real_sents = reader._chunks_index, reader._sentences_index
    dim = m.model.dimension
    for size in (int(s) for s in args.sizes.split(",")):
        print(
            f"  growing FAISS to {size:,} chunks and {size:,} sentences (synthetic vectors) ...", flush=True
        )
        reader._chunks_index = synthetic_index(real_chunks, size, rng, dim)
        reader._sentences_index = synthetic_index(real_sents, size, rng, dim)
        show(f"{size:,} chunks", measure(answerer, questions, args.rounds))
        reader._chunks_index = reader._sentences_index = None
    reader._chunks_index, reader._sentences_index = real_chunks, real_sents


if __name__ == "__main__":
    main()
