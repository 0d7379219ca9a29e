"""Per-question latency of the full answer pipeline, with the model loaded, as users get it.

    .venv/bin/python bench/latency_bench.py [--cache bench/out/bbc] [--rounds 3] [--no-synthetic]

1. Builds (once, cached) the index of the BBC corpus (``../shared/datasets/bbc_news``) plus the
   seed scrape (``../shared/seeds``) through the real pipeline and ingest.
2. Asks the news questions (``QUESTION_FILES``: ``bench/news_questions.jsonl``,
   ``bench/news_questions_heldout.jsonl`` and ``bench/bbc_questions.jsonl``, 236; issue 12
   asks for at least 150) several times with the defaults of
   ``ask``/``chat``/the bot (1 thread, the reader on, questions encoded through ONNX Runtime)
   and prints p50/p95 of the whole ``Answerer.ask``, of everything but the reader, and of each
   stage: query encode, FAISS, BM25, SQLite fetch, scoring, reader. The baseline in the same
   run encodes questions with torch (``NEWSBOT_QUERY_RUNTIME=torch``); the ratio of the two
   encode stages is printed. It also prints the eval metrics on those questions, as a sanity
   check (bench/reader_bench.py is the benchmark of quality).
3. The same while a CPU burner it starts (and stops) keeps one core busy.
4. Grows the FAISS part to 100k and 1M chunks with synthetic unit vectors (added to both the
   chunk and the sentence index, the latter therefore understating a real 1M-chunk corpus's
   sentence count) with the index type the store picks at that size (exact below 200k chunks,
   HNSW above), swaps them into the open reader, and asks the same questions again: every
   stage except FAISS must stay flat.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.embedding import configure_torch_threads, load_embedder, threads_for  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.settings import DEFAULT_MODEL, IndexSettings, load_index_settings  # noqa: E402
from index.store import build_faiss, faiss_ids, resolve_index_type  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import evaluate, load_qa  # noqa: E402
from retrieval.settings import load_retrieval_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
STAGES = ("encode_ms", "faiss_ms", "bm25_ms", "fetch_ms", "score_ms", "reader_ms", "total_ms")
#: The questions timed: every news question set (BBC + seed index), in this order.
QUESTION_FILES = ("news_questions.jsonl", "news_questions_heldout.jsonl", "bbc_questions.jsonl")
#: Everything but the reader's stage (issue 12's target for the pipeline around the reader).
WITHOUT_READER = "no_reader_ms"


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
    samples: dict[str, list[float]] = {k: [] for k in (*STAGES, WITHOUT_READER)}
    for _ in range(rounds):
        for q in questions:
            a = answerer.ask(q)
            for k in STAGES:
                samples[k].append(a.elapsed_ms if k == "total_ms" else a.timings_ms.get(k, 0.0))
            samples[WITHOUT_READER].append(a.elapsed_ms - a.timings_ms.get("reader_ms", 0.0))
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


@contextlib.contextmanager
def cpu_burner() -> Iterator[None]:
    """A process spinning on one core for as long as the block runs (a busy machine)."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let the scheduler see it
        yield
    finally:
        burner.kill()
        burner.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "bbc")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", type=str, default="100000,1000000")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--index", type=Path, default=None, help="time an existing index instead of BBC")
    args = ap.parse_args()
    settings = load_index_settings()
    if args.index is None:
        index_dir = ensure_bbc_index(args.cache, load_embedder(DEFAULT_MODEL, 0, settings.precision))
    else:
        index_dir = args.index
    # From here on as `ask`, `chat` and the bot run: one thread per question.
    threads = configure_torch_threads(threads_for(0, "interactive"))
    torch_encoder = load_embedder(DEFAULT_MODEL, threads, settings.precision, "torch")
    # the baseline runs torch for both models: the question encode and the reader
    baseline = Answerer(index_dir, embedder=torch_encoder,
                        settings=load_retrieval_settings(reader_runtime="torch"))
    answerer = Answerer(index_dir, embedder=load_embedder(DEFAULT_MODEL, threads, settings.precision,
                                                          settings.query_runtime, settings.cache_dir))
    qa = [it for name in QUESTION_FILES for it in load_qa(ROOT / "bench" / name)]
    questions = [it.question for it in qa]
    for q in questions[:5]:
        answerer.ask(q)  # warm caches (torch, ONNX export, SQLite pages, BM25 mmap)
        baseline.ask(q)
    runtime = getattr(answerer.embedder, "short_runtime", "torch")
    reader_runtime = getattr(answerer.answer_reader, "runtime", "none")
    base_reader_runtime = getattr(baseline.answer_reader, "runtime", "none")
    m = answerer.reader.manifest
    print(
        f"index {index_dir}: {m.articles} articles, {m.chunks} chunks, "
        f"{m.sentences} sentences ({m.index_type})"
    )
    report = evaluate(answerer.ask, qa)
    print(f"  sanity check on {' + '.join(f'bench/{n}' for n in QUESTION_FILES)} ({len(qa)} questions):")
    for line in report.lines():
        print("   ", line)
    print(f"  {len(questions)} questions x {args.rounds} rounds, 1 thread, questions encoded with {runtime}, "
          f"read with {reader_runtime}")
    base = measure(baseline, questions, args.rounds)
    show("baseline: torch encode and reader", base)
    ours = measure(answerer, questions, args.rounds)
    show(f"{m.chunks:,} chunks", ours)
    print(f"  query encode p50 {base['encode_ms'][0]:.1f} ms (torch) -> {ours['encode_ms'][0]:.1f} ms "
          f"({runtime}): {base['encode_ms'][0] / max(ours['encode_ms'][0], 1e-9):.2f}x faster", flush=True)
    was, now = base["reader_ms"][0], ours["reader_ms"][0]
    # The same runtime on both sides measures nothing but the machine's drift between passes.
    verdict = (f"{was / max(now, 1e-9):.2f}x faster" if reader_runtime != base_reader_runtime
               else "the same runtime: the difference is run-to-run noise")
    print(f"  reader p50 {was:.1f} ms ({base_reader_runtime}) -> {now:.1f} ms ({reader_runtime}): {verdict}",
          flush=True)
    with cpu_burner():
        show("one core kept busy", measure(answerer, questions, args.rounds))
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
