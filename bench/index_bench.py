"""Index build benchmark over the BBC corpus + seeds with the real model.

Measures, in one process:

* full build with the defaults (ingest → split → chunk → embed → publish; late-chunked
  sentence vectors, bf16 where the CPU has it) into a temp dir: seconds, articles/s, chunks/s;
* the baseline of issue 12: a plain fp32 torch ``SentenceTransformer.encode`` of just the
  chunk texts the build embedded (recorded on the way), so
  ``ratio = build seconds / baseline seconds`` (goal ≤ 0.5);
* with ``--compare-separate``, the same build with ``NEWSBOT_SENTENCE_VECTORS=separate`` (every
  sentence encoded again on its own), for the gain of one pass per chunk;
* rebuild of the unchanged corpus: seconds and speedup (goal ≥ 20x);
* index-side query latency (dense + BM25 + metadata fetch, query encoding excluded);
* peak RSS of the first build alone (the kernel's high-water mark reset just before it, so
  it counts the loaded model as ``newsbot index build`` does, but not the fp32 baseline or
  the other builds run after it), the peak of the whole benchmark process, and the ``stats``
  article count (2,093 expected for the full corpus).

Usage: ``.venv/bin/python bench/index_bench.py [--limit N] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index.embed_batch import ENCODE_BATCH  # noqa: E402
from index.embedding import DelegatingEmbedder, Embedder, load_embedder  # noqa: E402
from index.pipeline import apply_changes  # noqa: E402
from index.settings import DEFAULT_MODEL, IndexSettings  # noqa: E402
from index.store import IndexReader  # noqa: E402

BBC = REPO.parent / "shared" / "datasets" / "bbc_news" / "bbc_news.jsonl"
SEEDS = REPO.parent / "shared" / "seeds"


class RecordingEmbedder(DelegatingEmbedder):
    """Passes through to the real embedder and remembers every text it was asked to encode
    (``chunk_texts``: the texts of late-chunked passes, i.e. the chunks)."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.texts: list[str] = []
        self.chunk_texts: list[str] = []
        self.encode_seconds = 0.0

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.texts.extend(texts)
        t0 = time.perf_counter()
        out = self.inner.encode(texts, batch_size=batch_size)
        self.encode_seconds += time.perf_counter() - t0
        return out

    def encode_late(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 64
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        self.texts.extend(texts)
        self.chunk_texts.extend(texts)
        t0 = time.perf_counter()
        out = self.inner.encode_late(texts, spans, batch_size=batch_size)
        self.encode_seconds += time.perf_counter() - t0
        return out


def _sources() -> list[str]:
    if not BBC.is_file():
        sys.exit(f"index_bench: dataset not found at {BBC} (expected ../shared/datasets/bbc_news/)")
    return [str(BBC)] + ([str(SEEDS)] if SEEDS.is_dir() else [])


def _articles(settings: IndexSettings, limit: int | None):  # type: ignore[no-untyped-def]
    from index.sources import iter_articles

    items = iter_articles(_sources(), settings)
    if limit:
        # the seed is the last source: keep it in limited runs too
        head = list(itertools.islice(items, limit))
        seeds = list(iter_articles([str(SEEDS)], settings)) if SEEDS.is_dir() else []
        return iter(head + seeds)
    return items


def _vm_kb(field: str) -> int | None:
    """A ``/proc/self/status`` figure in kB (VmRSS, VmHWM); None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Start the kernel's RSS high-water mark (VmHWM) again from the current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _build(settings: IndexSettings, embedder: Embedder, limit: int | None):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    report = apply_changes(_articles(settings, limit), (), settings, embedder, replace_all=True,
                           require_articles=True, progress=True)
    return report, time.perf_counter() - t0


def _query_latency(index_dir: Path, embedder: Embedder, n: int = 60) -> dict[str, float]:
    """Index-side cost of one question (FAISS + BM25 + metadata), encoding excluded."""
    with IndexReader.open(index_dir, embedder.info) as reader:
        titles = [a.title for a in reader.latest_articles(n) if a.title]
        vecs = embedder.encode(titles)
        timings = []
        for title, vec in zip(titles, vecs, strict=True):
            t0 = time.perf_counter()
            dense = reader.search_sentences(vec, 50)
            lexical = reader.bm25_sentences(title, 50)
            chunks = reader.search_chunks(vec, 20)
            ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))[:60]
            reader.get_sentences(ids)
            reader.sentence_vectors(ids)
            reader.get_chunks([i for i, _ in chunks])
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {"p50_ms": statistics.median(timings), "p95_ms": timings[int(len(timings) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N BBC articles (+ seeds)")
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep the index")
    parser.add_argument("--compare-separate", action="store_true",
                        help="also time a build that encodes every sentence on its own")
    args = parser.parse_args()
    _sources()

    t0 = time.perf_counter()
    real = load_embedder(DEFAULT_MODEL)
    load_seconds = time.perf_counter() - t0
    real.encode(["warm up the model once"] * 8)

    workdir = Path(tempfile.mkdtemp(prefix="newsbot-bench-"))
    index_dir = args.keep or (workdir / "index")
    if args.keep and index_dir.exists():
        shutil.rmtree(index_dir)
    settings = IndexSettings(index_dir=index_dir)
    try:
        recorder = RecordingEmbedder(real)
        reset = _reset_peak_rss()
        report, build_s = _build(settings, recorder, args.limit)
        hwm_kb = _vm_kb("VmHWM") if reset else None
        # without the reset (not Linux), the process peak so far: still the build's own
        build_peak_mb = (hwm_kb if hwm_kb is not None else
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
        texts = recorder.texts
        # printed at once: the raw-encode comparison below takes about as long as the build
        print(f"build: {report.articles} articles, {report.chunks} chunks, {report.sentences} sentences, "
              f"{len(texts)} texts encoded in {build_s:.1f} s, peak RSS {build_peak_mb:.0f} MB", flush=True)

        # The baseline: plain fp32 torch encode of the chunk texts (no autocast, no pipeline).
        chunk_texts = recorder.chunk_texts or [t for t in texts if "\n" in t]
        inner_model = getattr(real, "_model", None)
        if inner_model is None:
            sys.exit("index_bench: the baseline needs the sentence-transformers model")
        t0 = time.perf_counter()
        inner_model.encode(chunk_texts, batch_size=ENCODE_BATCH, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
        raw_s = time.perf_counter() - t0
        print(f"baseline: fp32 encode of the {len(chunk_texts)} chunk texts in {raw_s:.1f} s", flush=True)

        separate_s = None
        if args.compare_separate:
            separate = IndexSettings(index_dir=workdir / "separate", sentence_vectors="separate")
            separate_report, separate_s = _build(separate, real, args.limit)
            print(f"separate sentence vectors: {separate_report.embedded_texts} texts encoded in "
                  f"{separate_s:.1f} s", flush=True)

        rebuild, rebuild_s = _build(settings, real, args.limit)
        latency = _query_latency(index_dir, real)
        with IndexReader.open(index_dir) as reader:
            about = reader.about()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    ratio = build_s / raw_s if raw_s else float("nan")
    speedup = build_s / rebuild_s if rebuild_s else float("inf")
    result = {
        "limit": args.limit,
        "articles": report.articles,
        "duplicates": report.duplicates,
        "failed": report.failed,
        "chunks": report.chunks,
        "sentences": report.sentences,
        "embedded_texts": report.embedded_texts,
        "model_load_s": round(load_seconds, 2),
        "build_s": round(build_s, 2),
        "articles_per_s": round(report.articles / build_s, 1),
        "chunks_per_s": round(report.chunks / build_s, 1),
        "encode_in_pipeline_s": round(recorder.encode_seconds, 2),
        "sentence_vectors": settings.sentence_vectors,
        "baseline_fp32_chunk_encode_s": round(raw_s, 2),
        "ratio_build_vs_baseline": round(ratio, 3),
        "separate_build_s": round(separate_s, 2) if separate_s is not None else None,
        "rebuild_s": round(rebuild_s, 3),
        "rebuild_embedded_texts": rebuild.embedded_texts,
        "rebuild_speedup": round(speedup, 1),
        "query_index_p50_ms": round(latency["p50_ms"], 2),
        "query_index_p95_ms": round(latency["p95_ms"], 2),
        "peak_rss_build_mb": round(build_peak_mb, 1),
        "peak_rss_process_mb": round(peak_mb, 1),
        "stats_articles": about.articles,
        "index_size_mb": round(about.size_bytes / 2**20, 1),
    }
    width = max(len(k) for k in result)
    print("\nindex benchmark" + (f" (--limit {args.limit})" if args.limit else " (full corpus)"))
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}")
    goals = (f"  goals: build <= 0.5 x baseline -> {'ok' if ratio <= 0.5 else 'MISSED'}; "
             f"rebuild speedup >= 20x -> {'ok' if speedup >= 20 else 'MISSED'}; "
             f"build peak RSS <= 1.5 GB -> {'ok' if build_peak_mb <= 1536 else 'MISSED'}")
    print(goals)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
