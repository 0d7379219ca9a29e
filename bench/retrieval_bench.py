"""SQuAD benchmark of the answer pipeline, with the baselines measured in the same run.

    .venv/bin/python bench/retrieval_bench.py [--limit N] [--cache bench/out/squad] [--no-v2]

* Indexes all 2,067 SQuAD v1.1 dev passages as one corpus (article id = passage id, title =
  passage title, body = context) with the real packaged model, through the real pipeline
  (``apply_changes``), into a cache directory reused between runs.
* Asks all 10,570 questions and prints hit@1 / hit@3 (a gold answer inside the first 1 / 3
  returned sentences) for: BM25 alone, dense alone, plain reciprocal-rank fusion of the two
  (all three sentence-level, top 3 sentences, no abstention) and the full pipeline. The full
  pipeline is also reported on the two halves of the split its weights were fitted on
  (even-numbered Wikipedia articles fit, odd-numbered held out).
* Indexes the 1,204 SQuAD v2.0 dev passages separately and reports abstention on its 5,945
  unanswerable questions and false abstention on its 5,928 answerable ones.
* Latency p50/p95 per question (model loaded, full pipeline).

This script only measures. ``bench/fit_weights.py`` fits ``retrieval/scoring.py``'s
``WEIGHTS`` and ``CALIBRATION`` on the fit half.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.embedding import DelegatingEmbedder, Embedder, load_embedder  # noqa: E402
from index.models import Article  # noqa: E402
from index.pipeline import apply_changes  # noqa: E402
from index.settings import DEFAULT_MODEL, IndexSettings  # noqa: E402
from index.store import read_current  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import contains_answer  # noqa: E402
from retrieval.fusion import fused_order  # noqa: E402
from retrieval.models import Answer  # noqa: E402
from retrieval.settings import load_retrieval_settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"


class CachingEmbedder(DelegatingEmbedder):
    """Remembers the last query's vector, so the baselines reuse the pipeline's encode."""

    def __init__(self, inner: Embedder, one_by_one: bool = False) -> None:
        super().__init__(inner)
        self._last: tuple[str, np.ndarray] | None = None
        #: Preload each question on its own, through the embedder's question path (ONNX
        #: Runtime per NEWSBOT_QUERY_RUNTIME), so a quality comparison of query runtimes
        #: measures the vectors ``ask`` would get, not a batch encode's.
        self.one_by_one = one_by_one
        #: Question vectors encoded in bulk (a batch encode is ~10x cheaper per text); when a
        #: text is here, no model call happens. Latency is measured with this switched off.
        self.known: dict[str, np.ndarray] = {}

    def preload(self, texts: Sequence[str]) -> None:
        texts = list(dict.fromkeys(texts))
        if self.one_by_one:
            vecs = [self.inner.encode([t])[0] for t in texts]
        else:
            vecs = list(self.inner.encode(texts, batch_size=128))
        self.known.update(zip(texts, vecs, strict=True))

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) == 1 and self._last is not None and self._last[0] == texts[0]:
            return self._last[1][None, :]
        if len(texts) == 1 and texts[0] in self.known:
            return self.known[texts[0]][None, :]
        out = self.inner.encode(texts, batch_size)
        if len(texts) == 1:
            self._last = (texts[0], out[0])
        return out


def load_jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def ensure_index(name: str, cache: Path, embedder: Embedder) -> Path:
    """Build (once) the index of a SQuAD folder's passages through the real pipeline."""
    index_dir = cache / name
    passages = load_jsonl(SHARED / name / "passages.jsonl")
    if read_current(index_dir) is not None:
        from index.store import IndexReader

        with IndexReader.open(index_dir) as r:
            if r.manifest.articles == len(passages):
                return index_dir
    articles = [Article(id=p["id"], title=p["title"], body=p["context"], source="SQuAD") for p in passages]
    t = time.time()
    print(f"indexing {len(articles)} {name} passages into {index_dir} ...", flush=True)
    report = apply_changes(
        articles, (), IndexSettings(index_dir=index_dir, model=DEFAULT_MODEL), embedder, replace_all=True
    )
    print(f"  {report.summary_line()} ({time.time() - t:.0f} s)", flush=True)
    return index_dir


def top_texts(answerer: Answerer, ids: list[int]) -> list[str]:
    return [s.text for s in answerer.reader.get_sentences(ids[:3])]


def hits(texts: list[str], answers: list[str]) -> tuple[bool, bool]:
    flags = [contains_answer(t, answers) for t in texts[:3]]
    return (bool(flags and flags[0]), any(flags))


def ranked_texts(a: Answer) -> list[str]:
    return [s.text for s in (a.sentences + a.alternatives)]


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def latency(answerer: Answerer, embedder: CachingEmbedder, questions: list[str]) -> tuple[float, float]:
    """p50/p95 of full ``ask`` calls with a real query encode each (no bulk vectors)."""
    known, embedder.known = embedder.known, {}
    try:
        lat = []
        for q in questions:
            embedder._last = None
            t = time.perf_counter()
            answerer.ask(q)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        embedder.known = known
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 95))


def run_v1(answerer: Answerer, limit: int | None) -> dict[str, float]:
    questions = load_jsonl(SHARED / "squad_v1.1_dev" / "questions.jsonl")[:limit]
    emb = answerer.embedder
    if isinstance(emb, CachingEmbedder):
        t = time.time()
        emb.preload([q["question"] for q in questions])
        print(f"  encoded {len(questions)} questions in bulk ({time.time() - t:.0f} s)", flush=True)
    articles_order = list(dict.fromkeys(q["article"] for q in questions))
    held_out = {a for i, a in enumerate(articles_order) if i % 2 == 1}
    rows = []
    lat = []
    t0 = time.time()
    for n, q in enumerate(questions):
        ans = answerer.ask(q["question"])
        lat.append(ans.elapsed_ms)
        full = hits(ranked_texts(ans), q["answers"])
        r = answerer.retrieve(q["question"])  # same query vector (cached): only the baselines' searches
        dense = [i for i, _ in r.dense_sentences]
        bm25 = [i for i, _ in r.bm25_sentences]
        base = [
            hits(top_texts(answerer, ids), q["answers"]) for ids in (bm25, dense, fused_order([dense, bm25]))
        ]
        cite = (
            full[0]
            and bool(ans.sentences or ans.alternatives)
            and ((ans.sentences + ans.alternatives)[0].article_id == q["passage_id"])
        )
        rows.append([*base[0], *base[1], *base[2], *full, cite, ans.answered, q["article"] in held_out])
        if n and n % 1000 == 0:
            print(f"  v1.1 {n}/{len(questions)} ({time.time() - t0:.0f} s)", flush=True)
    m = np.asarray(rows, dtype=bool)
    ho = m[:, 10]
    out = {
        "bm25_hit1": m[:, 0].mean(),
        "bm25_hit3": m[:, 1].mean(),
        "dense_hit1": m[:, 2].mean(),
        "dense_hit3": m[:, 3].mean(),
        "rrf_hit1": m[:, 4].mean(),
        "rrf_hit3": m[:, 5].mean(),
        "full_hit1": m[:, 6].mean(),
        "full_hit3": m[:, 7].mean(),
        "full_cite1": m[:, 8].mean(),
        "full_answered": m[:, 9].mean(),
        "full_hit1_fit_half": m[~ho, 6].mean() if (~ho).any() else float("nan"),
        "full_hit3_fit_half": m[~ho, 7].mean() if (~ho).any() else float("nan"),
        "full_hit1_held_out": m[ho, 6].mean() if ho.any() else float("nan"),
        "full_hit3_held_out": m[ho, 7].mean() if ho.any() else float("nan"),
        "p50_ms": float("nan"),
        "p95_ms": float("nan"),
        "questions": len(questions),
    }
    return {k: float(v) for k, v in out.items()}


def run_v2(answerer: Answerer, limit: int | None) -> dict[str, float]:
    questions = load_jsonl(SHARED / "squad_v2.0_dev" / "questions.jsonl")
    if limit:
        questions = questions[:limit]
    if isinstance(answerer.embedder, CachingEmbedder):
        answerer.embedder.preload([q["question"] for q in questions])
    unans = ans_n = abst_un = abst_ans = 0
    confs: list[tuple[float, bool]] = []
    t0 = time.time()
    for n, q in enumerate(questions):
        a = answerer.ask(q["question"])
        confs.append((a.confidence, bool(q["is_impossible"])))
        if q["is_impossible"]:
            unans += 1
            abst_un += not a.answered
        else:
            ans_n += 1
            abst_ans += not a.answered
        if n and n % 2000 == 0:
            print(f"  v2.0 {n}/{len(questions)} ({time.time() - t0:.0f} s)", flush=True)
    c = np.asarray(confs)
    curve = {}
    for th in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        imp = c[:, 1] == 1
        curve[th] = (
            (c[imp, 0] < th).mean() if imp.any() else 0.0,
            (c[~imp, 0] < th).mean() if (~imp).any() else 0.0,
        )
    print("  threshold sweep (abstention on unanswerable / false abstention on answerable):")
    for th, (a1, a2) in curve.items():
        print(f"    {th:.1f}: {pct(a1)} / {pct(a2)}")
    return {
        "abstention": abst_un / unans if unans else float("nan"),
        "false_abstention": abst_ans / ans_n if ans_n else float("nan"),
        "unanswerable": unans,
        "answerable": ans_n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of each set")
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "squad")
    ap.add_argument("--no-v2", action="store_true", help="skip the v2.0 abstention run")
    ap.add_argument("--no-v1", action="store_true", help="skip the v1.1 run (only v2.0 abstention)")
    ap.add_argument("--threshold", type=float, default=None, help="override the confidence threshold")
    ap.add_argument("--latency-sample", type=int, default=500, help="questions timed with a real encode")
    args = ap.parse_args()
    if not (SHARED / "squad_v1.1_dev").is_dir():
        sys.exit(f"{SHARED} not found")
    embedder = CachingEmbedder(load_embedder(DEFAULT_MODEL))
    settings = load_retrieval_settings(confidence_threshold=args.threshold)
    if not args.no_v1:
        idx1 = ensure_index("squad_v1.1_dev", args.cache, embedder)
        a1 = Answerer(idx1, settings=settings, embedder=embedder)
        for q in ("warm up", "Which NFL team won Super Bowl 50?"):
            a1.ask(q)
        r1 = run_v1(a1, args.limit)
        sample = [q["question"] for q in load_jsonl(SHARED / "squad_v1.1_dev" / "questions.jsonl")][
            :: max(1, 10570 // max(1, args.latency_sample))
        ][: args.latency_sample]
        r1["p50_ms"], r1["p95_ms"] = latency(a1, embedder, sample) if sample else (0.0, 0.0)
        print()
        print(f"SQuAD v1.1 dev: {int(r1['questions'])} questions, 2,067 passages as one corpus")
        print("                        hit@1    hit@3")
        print(f"  BM25 (sentences)     {pct(r1['bm25_hit1'])}   {pct(r1['bm25_hit3'])}")
        print(f"  dense (sentences)    {pct(r1['dense_hit1'])}   {pct(r1['dense_hit3'])}")
        print(f"  plain RRF            {pct(r1['rrf_hit1'])}   {pct(r1['rrf_hit3'])}")
        print(
            f"  full pipeline        {pct(r1['full_hit1'])}   {pct(r1['full_hit3'])}   "
            f"(cite@1 {pct(r1['full_cite1'])}, answered {pct(r1['full_answered'])})"
        )
        print(f"    fit half           {pct(r1['full_hit1_fit_half'])}   {pct(r1['full_hit3_fit_half'])}")
        print(f"    held-out half      {pct(r1['full_hit1_held_out'])}   {pct(r1['full_hit3_held_out'])}")
        print(
            f"  latency p50 / p95    {r1['p50_ms']:.1f} / {r1['p95_ms']:.1f} ms "
            f"(full pipeline incl. query encode, model loaded, {args.latency_sample} questions)"
        )
    if not args.no_v2:
        idx2 = ensure_index("squad_v2.0_dev", args.cache, embedder)
        a2 = Answerer(idx2, settings=settings, embedder=embedder)
        r2 = run_v2(a2, args.limit)
        print(
            f"SQuAD v2.0 dev (threshold {settings.confidence_threshold}): "
            f"abstention on {int(r2['unanswerable'])} unanswerable {pct(r2['abstention'])}, "
            f"false abstention on {int(r2['answerable'])} answerable {pct(r2['false_abstention'])}"
        )


if __name__ == "__main__":
    main()
