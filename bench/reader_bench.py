"""The reader against today's pipeline without it, in one run, on data neither was fitted on.

    .venv/bin/python bench/reader_bench.py [--limit N] [--skip squad,selqa,news,latency]

Baseline: the pipeline with ``reader_candidates=0`` (linear scoring, its own calibration,
its threshold ``BASELINE_THRESHOLD``). Reader: the defaults. Both share the indexes and
the question vectors. Every hit@k is printed two ways: counted as a user sees it (an "I
don't know" on an answerable question is a miss) and as ranking alone.

* SQuAD v1.1 dev, held-out half (``bench/squad_split.py``), 2,067 passages as one corpus.
* SQuAD v2.0 dev, held-out half: "I don't know" on unanswerable questions / on answerable ones.
* SelQA test (never trained on): P@1 and MRR over each question's given sentences, reader vs
  the linear scorer on the same candidates (the same features, question and sentence vectors).
* News over BBC + the seed: ``bench/news_questions.jsonl``, ``bench/bbc_questions.jsonl`` and
  ``bench/news_questions_heldout.jsonl`` (written before the reader was trained; never fitted on).
* Latency on the BBC index with real query encodes: whole ``ask`` p50/p95 and the reader stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from latency_bench import ensure_bbc_index  # noqa: E402
from retrieval_bench import CachingEmbedder, ensure_index, load_jsonl  # noqa: E402
from squad_split import SHARED, part_of  # noqa: E402

from index.embedding import (  # noqa: E402
    configure_torch_threads,
    load_embedder,
    threads_for,
)
from index.lexical import tokenize  # noqa: E402
from index.settings import DEFAULT_MODEL, load_index_settings  # noqa: E402
from retrieval import scoring  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import EvalReport, QAItem, evaluate, load_qa  # noqa: E402
from retrieval.query import analyse  # noqa: E402
from retrieval.reader import Reader, configured_reader  # noqa: E402
from retrieval.reader_files import WEIGHTS_DIR  # noqa: E402
from retrieval.reader_pairs import ReaderPair  # noqa: E402
from retrieval.settings import load_retrieval_settings  # noqa: E402

#: The threshold the pipeline without a reader shipped with (its calibration's own).
BASELINE_THRESHOLD = 0.37
NEWS_FILES = ("news_questions.jsonl", "bbc_questions.jsonl", "news_questions_heldout.jsonl")


def pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:5.1f}%"


def show(label: str, r: EvalReport) -> None:
    print(
        f"  {label:<9} user's way hit@1 {pct(r.answered_hit_at_1)} hit@3 {pct(r.answered_hit_at_3)} | "
        f"ranking hit@1 {pct(r.hit_at_1)} hit@3 {pct(r.hit_at_3)} | abstains on unanswerable "
        f"{pct(r.abstention)}, on answerable {pct(r.false_abstention)}",
        flush=True,
    )
    if r.phrase_marked is not None:
        print(
            f"  {'':<9} answer phrase marked in {pct(r.phrase_marked)} of the right first sentences; "
            f"exact match {pct(r.phrase_exact)}, F1 {pct(r.phrase_f1)}",
            flush=True,
        )


def squad_items(name: str, limit: int | None) -> list[QAItem]:
    items = load_qa(SHARED / name / "questions.jsonl")
    held = [it for it in items if it.article_id and part_of(it.article_id.rsplit("-", 1)[0]) == "held_out"]
    return held[:limit]


def run_squad(pipelines: dict[str, Answerer], name: str, limit: int | None) -> None:
    items = squad_items(name, limit)
    first = next(iter(pipelines.values()))
    if isinstance(first.embedder, CachingEmbedder):
        first.embedder.preload([it.question for it in items])
    print(f"{name}, held-out half: {len(items)} questions", flush=True)
    for label, a in pipelines.items():
        show(label, evaluate(a.ask, items))


def selqa(reader: Reader, embedder: CachingEmbedder, limit: int | None) -> None:
    """P@1 and MRR over SelQA test's given candidates: the linear scorer vs the reader."""
    rows = load_jsonl(SHARED / "selqa" / "test.jsonl")[:limit]
    docs = [set(tokenize(c)) for d in rows for c in d["candidates"]]
    df: dict[str, int] = {}
    for terms in docs:
        for t in terms:
            df[t] = df.get(t, 0) + 1
    idf = {t: float(np.log(1 + (len(docs) - n + 0.5) / (n + 0.5))) for t, n in df.items()}
    stats: dict[str, list[tuple[float, float]]] = {"linear": [], "reader": []}
    t0 = time.time()
    for d in rows:
        title = f"{d['article']}: {d['section']}"
        texts = d["candidates"]
        cands = [
            scoring.Candidate(
                sentence_id=i,
                article_id=d["id"],
                position=i,
                text=t,
                title=title,
                prev_text=texts[i - 1] if i else "",
                lead_text=" ".join(texts[: min(i - 1, 2)]) if i > 1 else "",
            )
            for i, t in enumerate(texts)
        ]
        vecs = embedder.encode([d["question"], *texts])
        prev = (
            np.vstack([np.zeros_like(vecs[1:2]), vecs[1:-1]]) if len(texts) > 1 else np.zeros_like(vecs[1:])
        )
        q = analyse(d["question"])
        linear = scoring.score(q, vecs[0], cands, vecs[1:], prev, idf, recency=0.0).logits
        read = reader.read(
            [ReaderPair(d["question"], t, title, c.prev_text) for t, c in zip(texts, cands, strict=True)]
        ).logits
        for label, lg in (("linear", linear), ("reader", read)):
            order = list(np.argsort(-np.asarray(lg), kind="stable"))
            rank = next(r for r, i in enumerate(order, start=1) if i in d["answers"])
            stats[label].append((float(rank == 1), 1.0 / rank))
    print(f"SelQA test: {len(rows)} questions, their given sentences ({time.time() - t0:.0f} s)")
    for label, v in stats.items():
        arr = np.asarray(v)
        print(f"  {label:<9} P@1 {pct(arr[:, 0].mean())}  MRR {arr[:, 1].mean():.3f}", flush=True)


def news(pipelines: dict[str, Answerer]) -> None:
    for fname in (*NEWS_FILES, None):
        items = (
            load_qa(ROOT / "bench" / fname)
            if fname
            else [it for f in NEWS_FILES for it in load_qa(ROOT / "bench" / f)]
        )
        print(
            f"news: {fname or 'all of them'} ({len(items)} questions, "
            f"{sum(not it.answerable for it in items)} uncovered)",
            flush=True,
        )
        for label, a in pipelines.items():
            show(label, evaluate(a.ask, items))


def latency(pipelines: dict[str, Answerer], embedder: CachingEmbedder, rounds: int) -> None:
    questions = [it.question for f in NEWS_FILES for it in load_qa(ROOT / "bench" / f)]
    known, embedder.known = embedder.known, {}
    print(f"latency on the BBC + seed index: {len(questions)} news questions x {rounds}, real query encodes")
    try:
        for label, a in pipelines.items():
            total, stage, rest = [], [], []
            for _ in range(rounds):
                for q in questions:
                    embedder._last = None
                    ans = a.ask(q)
                    total.append(ans.elapsed_ms)
                    stage.append(ans.timings_ms.get("reader_ms", 0.0))
                    rest.append(ans.elapsed_ms - ans.timings_ms.get("reader_ms", 0.0))
            p = np.percentile
            print(
                f"  {label:<9} ask p50 {p(total, 50):6.1f} ms  p95 {p(total, 95):6.1f} ms | reader stage "
                f"p50 {p(stage, 50):5.1f} ms p95 {p(stage, 95):5.1f} | "
                f"all but the reader p50 {p(rest, 50):5.1f} ms",
                flush=True,
            )
    finally:
        embedder.known = known


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of each set")
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--skip", default="", help="comma-separated: squad, selqa, news, latency")
    ap.add_argument("--rounds", type=int, default=2, help="latency passes over the news questions")
    ap.add_argument("--reader-weights", type=Path, default=WEIGHTS_DIR,
                    help="another reader's weights folder (e.g. a previous one, to compare in one session)")
    args = ap.parse_args()
    if not (SHARED / "squad_v1.1_dev").is_dir():
        sys.exit(f"{SHARED} not found")
    skip = set(filter(None, args.skip.split(",")))
    isettings = load_index_settings()
    # questions as ``ask`` encodes them: one at a time, through NEWSBOT_QUERY_RUNTIME
    inner = load_embedder(DEFAULT_MODEL, query_runtime=isettings.query_runtime, cache_dir=isettings.cache_dir)
    embedder = CachingEmbedder(inner, one_by_one=True)
    print(f"questions encoded one at a time with {getattr(inner, 'short_runtime', 'torch')} "
          f"(NEWSBOT_QUERY_RUNTIME={isettings.query_runtime})", flush=True)
    with_reader = load_retrieval_settings()
    baseline = load_retrieval_settings(reader_candidates=0, confidence_threshold=BASELINE_THRESHOLD)
    reader = configured_reader(with_reader, isettings, args.reader_weights)
    print(
        f"reader: {type(reader).__name__} (NEWSBOT_READER_RUNTIME={with_reader.reader_runtime}), "
        f"{with_reader.reader_candidates} candidates, threshold {with_reader.confidence_threshold}; "
        f"baseline: no reader, threshold {BASELINE_THRESHOLD}",
        flush=True,
    )

    def pipelines(index_dir: Path) -> dict[str, Answerer]:
        return {
            "baseline": Answerer(index_dir, settings=baseline, embedder=embedder),
            "reader": Answerer(index_dir, settings=with_reader, embedder=embedder, answer_reader=reader),
        }

    if "squad" not in skip:
        for name in ("squad_v1.1_dev", "squad_v2.0_dev"):
            run_squad(pipelines(ensure_index(name, args.cache / "squad", embedder)), name, args.limit)
    if "selqa" not in skip:
        selqa(reader, embedder, args.limit)
    if not {"news", "latency"} <= skip:
        bbc = pipelines(ensure_bbc_index(args.cache / "bbc", embedder))
        if "news" not in skip:
            embedder.preload([it.question for f in NEWS_FILES for it in load_qa(ROOT / "bench" / f)])
            news(bbc)
        if "latency" not in skip:
            # what `newsbot ask`/`bot` run with: one torch thread for a question
            configure_torch_threads(threads_for(load_index_settings().torch_threads, "interactive"))
            for a in bbc.values():
                a.ask("warm up")
            latency(bbc, embedder, args.rounds)


if __name__ == "__main__":
    main()
