"""Fit how the reader's score is combined with the linear one, and the confidence with the
reader (``retrieval/rerank.py``'s ``COMBINATION`` and ``READER_CALIBRATION``).

    .venv/bin/python bench/fit_reader.py [--write] [--samples FILE]

* Data: SQuAD v1.1 and v2.0 dev questions of ``bench/squad_split.py``'s *calibration*
  articles only (a quarter of the fit half, never seen by the reader in training: a model's
  scores on its own training data are over-confident), plus those v1.1 questions asked with
  their whole Wikipedia article left out of the search (what an uncovered question looks like).
* Each question goes through the real pipeline (``Answerer.explain``), and the reader reads
  the best ``MAX_READ`` candidates.
* ``COMBINATION_WEIGHTS``: softmax over the reranked candidates toward the sentence holding a gold
  answer. ``READER_CONFIDENCE_WEIGHTS``: logistic model of "answered" (v2.0: answerable; v1.1: the
  best sentence holds a gold answer; uncovered: never), every input allowed only to raise it.
* News dev questions (``bench/news_questions_dev.jsonl``: written over BBC articles that no
  evaluation set uses, never used by reader_bench), asked over BBC + the seed: their share of the
  combination's loss is ``--news-share``, and in the confidence fit the uncovered ones count as
  "never answered". The held-out news sets of ``reader_bench`` are never read here.
* Prints hit@1 for several reader depths (the default ``reader_candidates`` is chosen from
  this and the latency bench), the v2.0 abstention sweep and a suggested threshold.
"""

from __future__ import annotations

import argparse
import math
import pickle
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from latency_bench import ensure_bbc_index  # noqa: E402
from retrieval_bench import CachingEmbedder, ensure_index, load_jsonl  # noqa: E402
from squad_split import SHARED, part_of  # noqa: E402

from index.embedding import load_embedder  # noqa: E402
from index.settings import DEFAULT_MODEL, load_index_settings  # noqa: E402
from retrieval import rerank, scoring  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import contains_answer  # noqa: E402
from retrieval.reader import configured_reader  # noqa: E402
from retrieval.settings import load_retrieval_settings  # noqa: E402

#: What the fitted calibration holds, in order (``rerank.READER_CALIBRATION``).
CALIBRATION_NAMES = (*rerank.READER_CONFIDENCE_INPUTS, "intercept")
#: The deepest reranking tried; the fit uses the reader's logits on the first n of these.
MAX_READ = 16
DEPTHS = (4, 6, 8, 10, 12, 16)
L2 = 1e-2
#: False abstention on answerable v2.0 questions allowed when suggesting the threshold.
TARGET_FALSE_ABSTENTION = 0.08


@dataclass
class Sample:
    scored: scoring.Scored
    reader: np.ndarray  # logits of the first MAX_READ candidates in scored.order
    labels: np.ndarray  # per candidate: holds a gold answer
    v2: bool
    impossible: bool
    absent: bool = False
    news: bool = False


def collect(answerer: Answerer, questions: list[dict], v2: bool, absent: bool = False) -> list[Sample]:  # type: ignore[type-arg]
    out = []
    allowed_for = _absent_filter(answerer) if absent else None
    t0 = time.time()
    for n, q in enumerate(questions):
        allowed = allowed_for(q["passage_id"]) if allowed_for else None
        scored, _ = answerer.explain(q["question"], allowed=allowed)
        logits = answerer.read(q["question"], scored, MAX_READ)
        gold = [] if absent else q["answers"]
        labels = np.asarray([bool(gold) and contains_answer(c.text, gold) for c in scored.candidates])
        out.append(Sample(scored, logits, labels, v2, bool(q.get("is_impossible")) or absent, absent))
        if n and n % 500 == 0:
            print(f"  {n}/{len(questions)} ({time.time() - t0:.0f} s)", flush=True)
    return out


def collect_news(answerer: Answerer, path: Path) -> list[Sample]:
    """News dev questions: a candidate is right when it holds an answer (in the question's article)."""
    out = []
    for q in load_jsonl(path):
        scored, _ = answerer.explain(q["question"])
        logits = answerer.read(q["question"], scored, MAX_READ)
        answers, article = q.get("answers") or [], q.get("article_id")
        labels = np.asarray(
            [
                bool(answers)
                and contains_answer(c.text, answers)
                and (article is None or c.article_id == article)
                for c in scored.candidates
            ]
        )
        out.append(Sample(scored, logits, labels, False, not q.get("answerable", True), news=True))
    return out


def _absent_filter(answerer: Answerer):  # type: ignore[no-untyped-def]
    """chunk and sentence ids of everything but one Wikipedia article's passages."""
    chunks = answerer.reader.id_articles("chunks")
    sents = answerer.reader.id_articles("sentences")

    def topic(aid: str) -> str:
        return aid.rsplit("-", 1)[0]

    def allowed(passage_id: str) -> tuple[np.ndarray, np.ndarray]:
        t = topic(passage_id)
        return (
            np.asarray([i for i, a in chunks if topic(a) != t], dtype=np.int64),
            np.asarray([i for i, a in sents if topic(a) != t], dtype=np.int64),
        )

    return allowed


def reranked(s: Sample, depth: int, combination: np.ndarray) -> scoring.Scored:
    return rerank.rerank(s.scored, s.reader[:depth], tuple(combination))


def fit_combination(samples: list[Sample], depth: int, news_share: float = 0.0) -> np.ndarray:
    """(w_reader, w_linear) by softmax over each question's top ``depth`` toward its answers;
    news questions, if any, weigh ``news_share`` of the loss together."""
    rows = []
    for s in samples:
        top = s.scored.order[:depth]
        y = s.labels[top].astype(np.float64)
        if y.any() and not y.all():
            x = np.stack([s.reader[: len(top)], s.scored.logits[top]], axis=1).astype(np.float64)
            rows.append((x, y / y.sum(), s.news))
    n_news = sum(1 for r in rows if r[2])
    share = news_share if n_news else 0.0
    n_other = max(1, len(rows) - n_news)
    weights = [share / n_news if is_news else (1 - share) / n_other for _, _, is_news in rows]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros(2)
        for (x, y, _), weight in zip(rows, weights, strict=True):
            z = x @ w
            z -= z.max()
            p = np.exp(z) / np.exp(z).sum()
            total -= weight * float(y @ np.log(p + 1e-12))
            grad += weight * (x.T @ (p - y))
        return total + L2 * float(w @ w), grad + 2 * L2 * w

    res = minimize(loss, np.array([1.0, 0.3]), jac=True, method="L-BFGS-B", bounds=[(0, None), (0, None)])
    return np.asarray(res.x)


def calibration_rows(
    samples: list[Sample], depth: int, combination: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for s in samples:
        sc = reranked(s, depth, combination)
        if not sc.order:
            continue
        xs.append(rerank.reader_confidence_inputs(sc))
        if s.absent or (s.news and s.impossible):
            ys.append(0.0)
        elif s.news:
            ys.append(float(s.labels[sc.order[0]]))
        else:
            ys.append(float(not s.impossible) if s.v2 else float(s.labels[sc.order[0]]))
    return np.asarray(xs), np.asarray(ys)


def fit_calibration(
    samples: list[Sample], depth: int, combination: np.ndarray, shares: dict[str, float]
) -> np.ndarray:
    parts = []
    for kind, share in shares.items():
        members = [s for s in samples if _kind(s) == kind]
        x, y = calibration_rows(members, depth, combination)
        parts.append((x, y, np.full(len(y), share / max(1, len(y)))))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    sw = np.concatenate([p[2] for p in parts])
    sw = sw / sw.mean()
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    xb = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        ll = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).mean()
        g = xb.T @ (sw * (p - y)) / len(y)
        g[:-1] += 2 * L2 * w[:-1]
        return float(ll) + L2 * float(w[:-1] @ w[:-1]), g

    bounds = [(0.0, None)] * x.shape[1] + [(None, None)]
    res = minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds)
    raw = res.x[:-1] / sd
    return np.append(raw, res.x[-1] - float(raw @ mu))


def _kind(s: Sample) -> str:
    if s.news:
        return "news"
    return "absent" if s.absent else ("v2" if s.v2 else "v1")


def confidences(
    samples: list[Sample], depth: int, combination: np.ndarray, calibration: np.ndarray
) -> np.ndarray:
    x, _ = calibration_rows(samples, depth, combination)
    return 1.0 / (1.0 + np.exp(-(np.hstack([x, np.ones((len(x), 1))]) @ calibration)))


def report(
    samples: list[Sample], depth: int, combination: np.ndarray, calibration: np.ndarray, threshold: float
) -> None:
    v1 = [s for s in samples if _kind(s) == "v1"]
    v2 = [s for s in samples if _kind(s) == "v2"]
    absent = [s for s in samples if s.absent]
    hit = [bool(s.labels[reranked(s, depth, combination).order[0]]) for s in v1 if s.scored.order]
    conf1 = confidences(v1, depth, combination, calibration)
    user = np.asarray(hit) & (conf1 >= threshold)
    print(
        f"  v1.1 hit@1 {100 * np.mean(hit):5.1f}% (counting abstentions as misses {100 * user.mean():5.1f}%)"
    )
    conf = confidences(v2, depth, combination, calibration)
    imp = np.asarray([s.impossible for s in v2 if s.scored.order])
    for th in (0.2, 0.3, 0.4, 0.5, 0.6, threshold):
        print(
            f"  v2.0 threshold {th:.2f}: abstention {100 * (conf[imp] < th).mean():5.1f}%"
            f" / false abstention {100 * (conf[~imp] < th).mean():5.1f}%"
        )
    if absent:
        ca = confidences(absent, depth, combination, calibration)
        rate = 100 * (ca < threshold).mean()
        print(f"  uncovered (article left out) at {threshold:.2f}: abstention {rate:5.1f}%")
    dev = [s for s in samples if s.news and s.scored.order]
    if dev:
        cn = confidences(dev, depth, combination, calibration)
        answerable = np.asarray([not s.impossible for s in dev])
        top = np.asarray([bool(s.labels[reranked(s, depth, combination).order[0]]) for s in dev])
        print(
            f"  news dev at {threshold:.2f}: hit@1 {100 * top[answerable].mean():5.1f}% "
            f"(user's way {100 * (top & (cn >= threshold))[answerable].mean():5.1f}%), "
            f"abstention on uncovered {100 * (cn[~answerable] < threshold).mean():5.1f}%, "
            f"false abstention {100 * (cn[answerable] < threshold).mean():5.1f}%"
        )


def fmt_named(name: str, values: np.ndarray, labels: Sequence[str]) -> str:
    """A ``name: Mapping[str, float] = {"label": value, ...}`` block, as ``rerank.py`` holds it."""
    body = "".join(f'    "{n}": {round(float(v), 3)},\n' for v, n in zip(values, labels, strict=True))
    return f"{name}: Mapping[str, float] = {{\n{body}}}"


def write_back(combination: np.ndarray, calibration: np.ndarray) -> None:
    path = ROOT / "retrieval" / "rerank.py"
    text = path.read_text(encoding="utf-8")
    for name, values, labels in (
        ("COMBINATION_WEIGHTS", combination, rerank.COMBINATION_INPUTS),
        ("READER_CONFIDENCE_WEIGHTS", calibration, CALIBRATION_NAMES),
    ):
        new = fmt_named(name, values, labels)
        text, count = re.subn(
            rf"{name}: Mapping\[str, float\] = \{{\n.*?\n\}}",
            lambda _, new=new: new,
            text,
            count=1,
            flags=re.S,
        )
        if count != 1:
            raise SystemExit(f"{name} not found in {path}: write it by hand")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "squad")
    ap.add_argument("--samples", type=Path, default=ROOT / "bench" / "out" / "reader" / "fit_samples.pkl")
    ap.add_argument("--recollect", action="store_true")
    ap.add_argument("--depth", type=int, default=None, help="reader depth to fit at (default: settings)")
    ap.add_argument("--v1-share", type=float, default=0.3)
    ap.add_argument("--absent-share", type=float, default=0.2)
    ap.add_argument("--news", type=Path, default=ROOT / "bench" / "news_questions_dev.jsonl")
    ap.add_argument("--bbc-cache", type=Path, default=ROOT / "bench" / "out" / "bbc")
    ap.add_argument(
        "--news-share", type=float, default=0.5, help="news dev questions' share of the combination fit"
    )
    ap.add_argument("--news-confidence-share", type=float, default=0.2)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if not (SHARED / "squad_v1.1_dev").is_dir():
        sys.exit(f"{SHARED} not found")
    samples: list[Sample] | None = None
    if args.samples.exists() and not args.recollect:
        with args.samples.open("rb") as fh:
            samples = pickle.load(fh)  # our own cache, written below
    if samples is None:
        embedder = CachingEmbedder(load_embedder(DEFAULT_MODEL))
        reader = configured_reader(load_retrieval_settings(), load_index_settings())
        settings = load_retrieval_settings(reader_candidates=0)
        samples = []
        for name, v2 in (("squad_v1.1_dev", False), ("squad_v2.0_dev", True)):
            qs = [
                q
                for q in load_jsonl(SHARED / name / "questions.jsonl")
                if part_of(q["article"]) == "calibration"
            ]
            a = Answerer(
                ensure_index(name, args.cache, embedder),
                settings=settings,
                embedder=embedder,
                answer_reader=reader,
            )
            embedder.preload([q["question"] for q in qs])
            print(f"collecting {name}: {len(qs)} calibration questions", flush=True)
            samples += collect(a, qs, v2)
            if not v2:
                print("collecting uncovered questions (article left out)", flush=True)
                samples += collect(a, qs[::2], False, absent=True)
        if args.news.exists():
            print(f"collecting news dev questions ({args.news.name})", flush=True)
            bbc = Answerer(
                ensure_bbc_index(args.bbc_cache, embedder),
                settings=settings,
                embedder=embedder,
                answer_reader=reader,
            )
            samples += collect_news(bbc, args.news)
        args.samples.parent.mkdir(parents=True, exist_ok=True)
        with args.samples.open("wb") as fh:
            pickle.dump(samples, fh)
    depth = args.depth or load_retrieval_settings().reader_candidates or 8
    v1 = [s for s in samples if _kind(s) == "v1"]
    fit_on = v1 + [s for s in samples if s.news]
    base = [bool(s.labels[s.scored.order[0]]) for s in v1 if s.scored.order]
    print(f"linear only: v1.1 hit@1 {100 * np.mean(base):5.1f}%")
    for d in DEPTHS:
        comb = fit_combination(fit_on, d, args.news_share)
        hit = [bool(s.labels[reranked(s, d, comb).order[0]]) for s in v1 if s.scored.order]
        only = [bool(s.labels[reranked(s, d, np.array([1.0, 0.0])).order[0]]) for s in v1 if s.scored.order]
        ceiling = [bool(s.labels[s.scored.order[:d]].any()) for s in v1 if s.scored.order]
        print(
            f"depth {d:2d}: combination {np.round(comb, 3)} hit@1 {100 * np.mean(hit):5.1f}% "
            f"(reader alone {100 * np.mean(only):5.1f}%, answer within depth {100 * np.mean(ceiling):5.1f}%)"
        )
    combination = fit_combination(fit_on, depth, args.news_share)
    news_share = args.news_confidence_share if any(s.news for s in samples) else 0.0
    shares = {
        "v1": args.v1_share,
        "absent": args.absent_share,
        "news": news_share,
        "v2": 1 - args.v1_share - args.absent_share - news_share,
    }
    calibration = fit_calibration(samples, depth, combination, shares)
    v2 = [s for s in samples if _kind(s) == "v2"]
    conf = confidences(v2, depth, combination, calibration)
    ans = conf[np.asarray([not s.impossible for s in v2 if s.scored.order])]
    threshold = math.floor(100 * float(np.quantile(ans, TARGET_FALSE_ABSTENTION))) / 100
    print(f"depth {depth}, suggested threshold {threshold} (calibration articles)")
    report(samples, depth, combination, calibration, threshold)
    print(fmt_named("COMBINATION_WEIGHTS", combination, rerank.COMBINATION_INPUTS))
    print(fmt_named("READER_CONFIDENCE_WEIGHTS", calibration, CALIBRATION_NAMES))
    if args.write:
        write_back(combination, calibration)


if __name__ == "__main__":
    main()
