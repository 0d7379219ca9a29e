"""Fit ``retrieval/scoring.py``'s ``WEIGHTS`` and ``CALIBRATION`` (the code behind them).

    .venv/bin/python bench/fit_weights.py [--cache bench/out/squad] [--limit N] [--write]

* Runs the real pipeline's retrieval and features (``Answerer.explain``) for every question of
  SQuAD v1.1 dev and v2.0 dev over the indexes ``bench/retrieval_bench.py`` builds (the same
  cache directory; built here when missing).
* Splits by Wikipedia article: even-numbered articles (in file order) are the fit half, odd ones
  are held out. Nothing from the held-out half reaches the fit.
* ``WEIGHTS``: a softmax over each fit question's candidate sentences (v1.1 questions whose
  candidates include a sentence holding a gold answer), L2-regularised, so the sentence that
  answers gets the highest logit.
* ``CALIBRATION``: a sign-constrained logistic model of "the best sentence answers" over
  ``scoring.confidence_inputs``, with positives = best sentence holds a gold answer (v1.1 and
  answerable v2.0) and negatives = wrong best sentence (v1.1, v2.0) or unanswerable (v2.0).
  v1.1 and v2.0 count equally, so neither dataset's base rate decides the threshold alone.
* Also asks every 4th v1.1 question with its whole Wikipedia article left out of the search
  (an uncovered question, which SQuAD v2.0 lacks: its unanswerable questions are about a
  passage that is there) and reports how often the fitted model abstains on them.
* Prints held-out hit@1 (v1.1, best sentence only) and the v2.0 abstention / false-abstention
  sweep for the current and the fitted parameters, and the new weights by name. ``--write``
  puts them into ``retrieval/scoring.py`` (``FEATURE_WEIGHTS``, ``CONFIDENCE_WEIGHTS``); review
  the diff and rerun ``bench/retrieval_bench.py``.

Features with no signal on SQuAD (``preferred``: follow-ups never happen there) keep their
hand-set weight.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pickle
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval_bench import SHARED, CachingEmbedder, ensure_index, load_jsonl  # noqa: E402

from index.embedding import load_embedder  # noqa: E402
from index.settings import DEFAULT_MODEL  # noqa: E402
from retrieval import scoring  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import contains_answer  # noqa: E402
from retrieval.settings import load_retrieval_settings  # noqa: E402

#: What the fitted vectors hold, in order (``scoring.WEIGHTS`` / ``scoring.CALIBRATION``).
WEIGHT_NAMES = [*scoring.FEATURES, "intercept"]
CALIBRATION_NAMES = [*scoring.CONFIDENCE_INPUTS, "intercept"]
#: Features whose weight is set by hand (no signal in the fitting data).
FIXED = {"preferred": 0.8}
L2_WEIGHTS = 1e-3
L2_CALIBRATION = 1e-2
#: False abstention allowed on the fit half when suggesting the threshold (the goal is < 10%;
#: the margin absorbs the difference between halves).
TARGET_FALSE_ABSTENTION = 0.09


@dataclass
class Sample:
    """One question's candidates as the pipeline scored them."""

    feats: np.ndarray  # (n, len(FEATURES))
    labels: np.ndarray  # (n,) bool: the candidate holds a gold answer
    scored: scoring.Scored
    impossible: bool
    held_out: bool
    v2: bool
    #: Asked with its whole Wikipedia article left out of the search: an uncovered question.
    absent: bool = False


def collect(answerer: Answerer, questions: list[dict], v2: bool) -> list[Sample]:  # type: ignore[type-arg]
    emb = answerer.embedder
    if isinstance(emb, CachingEmbedder):
        emb.preload([q["question"] for q in questions])
    order = list(dict.fromkeys(q["article"] for q in questions))
    held = {a for i, a in enumerate(order) if i % 2 == 1}
    out: list[Sample] = []
    t0 = time.time()
    for n, q in enumerate(questions):
        scored, _ = answerer.explain(q["question"])
        gold = q["answers"]
        labels = np.asarray([bool(gold) and contains_answer(c.text, gold) for c in scored.candidates])
        out.append(
            Sample(scored.features, labels, scored, bool(q.get("is_impossible")), q["article"] in held, v2)
        )
        if n and n % 2000 == 0:
            print(f"  {'v2.0' if v2 else 'v1.1'} {n}/{len(questions)} ({time.time() - t0:.0f} s)", flush=True)
    return out


def collect_absent(answerer: Answerer, questions: list[dict], every: int) -> list[Sample]:  # type: ignore[type-arg]
    """Every ``every``-th v1.1 question asked with its Wikipedia article's passages left out of
    the search: what a question about something the corpus does not cover looks like (SQuAD
    v2.0's unanswerable questions are all about a passage that is there)."""
    rows = answerer.reader.id_articles("chunks")
    srows = answerer.reader.id_articles("sentences")

    def by_topic(pairs: list[tuple[int, str]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        topics: dict[str, list[int]] = {}
        for i, aid in pairs:
            topics.setdefault(aid.rsplit("-", 1)[0], []).append(i)
        return np.asarray([i for i, _ in pairs], dtype=np.int64), {
            k: np.asarray(v) for k, v in topics.items()
        }

    all_chunks, chunks_of = by_topic(rows)
    all_sents, sents_of = by_topic(srows)
    order = list(dict.fromkeys(q["article"] for q in questions))
    held = {a for i, a in enumerate(order) if i % 2 == 1}
    out: list[Sample] = []
    for q in questions[::every]:
        topic = q["passage_id"].rsplit("-", 1)[0]
        allowed = (
            np.setdiff1d(all_chunks, chunks_of.get(topic, np.zeros(0, dtype=np.int64))),
            np.setdiff1d(all_sents, sents_of.get(topic, np.zeros(0, dtype=np.int64))),
        )
        scored, _ = answerer.explain(q["question"], allowed=allowed)
        labels = np.zeros(len(scored.candidates), dtype=bool)
        out.append(Sample(scored.features, labels, scored, True, q["article"] in held, False, absent=True))
    return out


def feature_code_digest() -> str:
    """Digest of the code that computes features: a cache of samples is stale once it changes."""
    h = hashlib.sha256()
    for name in ("scoring.py", "features.py", "cues.py", "query.py", "timewords.py", "answerer.py"):
        h.update((ROOT / "retrieval" / name).read_bytes())
    return h.hexdigest()


def load_samples(path: Path) -> list[Sample] | None:
    """Collected samples from an earlier run, unless the feature code changed since."""
    if not path.exists():
        return None
    with path.open("rb") as fh:
        digest, samples = pickle.load(fh)  # our own cache file, written by main()
    return list(samples) if digest == feature_code_digest() else None


def fit_weights(samples: list[Sample], init: np.ndarray) -> np.ndarray:
    """Softmax over each question's candidates; returns weights with a zero intercept."""
    usable = [s for s in samples if s.labels.any() and len(s.labels) > 1]
    free = [i for i, f in enumerate(scoring.FEATURES) if f not in FIXED]
    mats = [s.feats[:, free].astype(np.float64) for s in usable]
    targets = [s.labels.astype(np.float64) / s.labels.sum() for s in usable]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total = 0.0
        grad = np.zeros_like(w)
        for x, y in zip(mats, targets, strict=True):
            z = x @ w
            z -= z.max()
            p = np.exp(z)
            p /= p.sum()
            # cross-entropy against the (uniform over gold sentences) target distribution
            total -= float(y @ np.log(p + 1e-12))
            grad += x.T @ (p - y)
        n = len(mats)
        return total / n + L2_WEIGHTS * float(w @ w), grad / n + 2 * L2_WEIGHTS * w

    res = minimize(loss, init[free], jac=True, method="L-BFGS-B", options={"maxiter": 500})
    full = np.zeros(len(scoring.FEATURES) + 1)
    full[free] = res.x
    for name, value in FIXED.items():
        full[scoring.FEATURES.index(name)] = value
    return full


def rescore(s: Sample, weights: np.ndarray) -> scoring.Scored:
    lg = scoring.logits(s.feats, weights.tolist())
    order = [int(i) for i in np.argsort(-lg, kind="stable")]
    return scoring.Scored(s.scored.candidates, s.feats, lg, scoring.sigmoid(lg), order)


def calibration_rows(samples: list[Sample], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels: v2.0 questions are positive when answerable (what abstention is
    judged on), v1.1 ones when the best sentence holds a gold answer."""
    xs, ys = [], []
    for s in samples:
        sc = rescore(s, weights)
        if not sc.order:
            continue
        xs.append(scoring.confidence_inputs(sc))
        if s.absent:
            ys.append(0.0)
        else:
            ys.append(float(not s.impossible) if s.v2 else float(s.labels[sc.order[0]]))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


#: Calibration inputs that may only lower confidence (a question term missing from the article
#: must never raise it, whatever correlation the fitting data happens to have) ...
LOWERS_CONFIDENCE = frozenset(
    {"missing_rare", "missing_article", "missing_number", "negation", "type_missing", "restate", "short"}
)
#: ... and those that may only raise it. Others (``novelty``) are left free.
RAISES_CONFIDENCE = frozenset(
    {
        "top_logit",
        "margin",
        "top_share",
        "dense",
        "dense_ctx",
        "lex",
        "lex_ctx",
        "names",
        "passage",
        "sent_rrf",
        "type_ok",
        "bigram",
        "title",
        "passage_cos",
        "bm25",
        "dense_x_lex",
    }
)


def _sign_bound(name: str) -> tuple[float | None, float | None]:
    if name in LOWERS_CONFIDENCE:
        return (None, 0.0)
    if name in RAISES_CONFIDENCE:
        return (0.0, None)
    return (None, None)


def fit_calibration(
    samples: list[Sample], weights: np.ndarray, v1_share: float, absent_share: float, signs: bool = True
) -> np.ndarray:
    """Weighted logistic regression: v1.1 rows (wrong best sentence) carry ``v1_share`` of the
    total weight, uncovered questions ``absent_share``, v2.0 the rest."""
    groups = (
        ([s for s in samples if not s.v2 and not s.absent], v1_share),
        ([s for s in samples if s.absent], absent_share),
        ([s for s in samples if s.v2], 1.0 - v1_share - absent_share),
    )
    parts = []
    for members, share in groups:
        x, y = calibration_rows(members, weights)
        parts.append((x, y, np.full(len(y), share / max(1, len(y)))))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    sw = np.concatenate([p[2] for p in parts])
    sw = sw / sw.mean()
    # Fitted on standardised inputs (the optimiser converges, the penalty treats inputs alike),
    # then folded back into weights over the raw inputs.
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    xb = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = xb @ w
        p = 1.0 / (1.0 + np.exp(-z))
        ll = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).mean()
        g = xb.T @ (sw * (p - y)) / len(y)
        reg = L2_CALIBRATION * float(w[:-1] @ w[:-1])
        g[:-1] += 2 * L2_CALIBRATION * w[:-1]
        return float(ll) + reg, g

    free: tuple[float | None, float | None] = (None, None)
    bounds = [_sign_bound(name) if signs else free for name in scoring.CONFIDENCE_INPUTS] + [free]
    res = minimize(
        loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 1000}
    )
    wz = np.asarray(res.x)
    raw = wz[:-1] / sd
    return np.append(raw, wz[-1] - float(raw @ mu))


def report(
    label: str,
    samples: list[Sample],
    weights: np.ndarray,
    calibration: np.ndarray,
    threshold: float | None = None,
) -> None:
    v1 = [s for s in samples if not s.v2 and not s.absent]
    v2 = [s for s in samples if s.v2]
    absent = [s for s in samples if s.absent]
    if absent and threshold is not None:
        xa, _ = calibration_rows(absent, weights)
        conf_a = 1.0 / (1.0 + np.exp(-(np.hstack([xa, np.ones((len(xa), 1))]) @ calibration)))
        rate = 100 * (conf_a < threshold).mean()
        print(f"    uncovered (article left out), threshold {threshold:.2f}: abstention {rate:5.1f}%")
    hit = [bool(s.labels[rescore(s, weights).order[0]]) for s in v1 if len(s.labels)]
    line = f"{label}: v1.1 hit@1 (best sentence) {100 * np.mean(hit):5.1f}%" if hit else label
    print(line)
    if not v2:
        return
    x, _ = calibration_rows(v2, weights)
    z = np.hstack([x, np.ones((len(x), 1))]) @ calibration
    conf = 1.0 / (1.0 + np.exp(-z))
    imp = np.asarray([s.impossible for s in v2 if len(s.labels)])
    for th in (0.2, 0.3, 0.4, 0.5):
        print(
            f"    v2.0 threshold {th:.1f}: abstention {100 * (conf[imp] < th).mean():5.1f}%"
            f" / false abstention {100 * (conf[~imp] < th).mean():5.1f}%"
        )
    for fa in (0.05, 0.10):
        th = float(np.quantile(conf[~imp], fa))
        print(f"    at {100 * fa:.0f}% false abstention: abstention {100 * (conf[imp] < th).mean():5.1f}%")
    if threshold is not None:
        print(
            f"    at threshold {threshold:.2f}: abstention {100 * (conf[imp] < threshold).mean():5.1f}%"
            f" / false abstention {100 * (conf[~imp] < threshold).mean():5.1f}%"
        )


def suggest_threshold(samples: list[Sample], weights: np.ndarray, calibration: np.ndarray) -> float:
    """The highest threshold (2 decimals) keeping v2.0 false abstention under ``TARGET_FALSE_ABSTENTION``."""
    x, _ = calibration_rows([s for s in samples if s.v2], weights)
    conf = 1.0 / (1.0 + np.exp(-(np.hstack([x, np.ones((len(x), 1))]) @ calibration)))
    answerable = conf[np.asarray([not s.impossible for s in samples if s.v2 and len(s.labels)])]
    return math.floor(100 * float(np.quantile(answerable, TARGET_FALSE_ABSTENTION))) / 100


def fmt_named(name: str, values: np.ndarray, labels: list[str]) -> str:
    """A ``name: Mapping[str, float] = {"label": value, ...}`` block, as ``scoring.py`` holds it."""
    body = "".join(f'    "{n}": {round(float(v), 3)},\n' for v, n in zip(values, labels, strict=True))
    return f"{name}: Mapping[str, float] = {{\n{body}}}"


def replace_named(text: str, name: str, block: str) -> str:
    """``text`` with the named-weights block ``name`` replaced by ``block`` (exactly once)."""
    new, count = re.subn(rf"{name}: Mapping\[str, float\] = \{{\n.*?\n\}}", lambda _: block, text,
                         count=1, flags=re.S)
    if count != 1:
        raise SystemExit(f"{name} not found in the file: write it by hand")
    return new


def write_back(weights: np.ndarray, calibration: np.ndarray) -> None:
    path = ROOT / "retrieval" / "scoring.py"
    text = path.read_text(encoding="utf-8")
    text = replace_named(text, "FEATURE_WEIGHTS", fmt_named("FEATURE_WEIGHTS", weights, WEIGHT_NAMES))
    text = replace_named(text, "CONFIDENCE_WEIGHTS",
                         fmt_named("CONFIDENCE_WEIGHTS", calibration, CALIBRATION_NAMES))
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "squad")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of each set")
    ap.add_argument("--write", action="store_true", help="write the fitted tuples into retrieval/scoring.py")
    ap.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="pickle of collected features: reused while the feature code is unchanged",
    )
    ap.add_argument("--keep-weights", action="store_true", help="refit only the calibration")
    ap.add_argument(
        "--v1-share",
        type=float,
        default=0.25,
        help="share of the calibration's weight on v1.1 (wrong best sentence)",
    )
    ap.add_argument(
        "--absent-share",
        type=float,
        default=0.0,
        help="share of the calibration's weight on uncovered questions (v1.1, article left out); "
        "0: only measured (they are abstained on already, and weighting them costs v2.0 abstention)",
    )
    ap.add_argument(
        "--no-signs",
        action="store_true",
        help="fit the calibration without sign constraints (for comparison)",
    )
    ap.add_argument("--absent-every", type=int, default=4, help="ask every Nth v1.1 question uncovered")
    args = ap.parse_args()
    if not (SHARED / "squad_v1.1_dev").is_dir():
        sys.exit(f"{SHARED} not found")
    samples = load_samples(args.samples) if args.samples else None
    if samples is None:
        embedder = CachingEmbedder(load_embedder(DEFAULT_MODEL))
        samples = []
        for name, v2 in (("squad_v1.1_dev", False), ("squad_v2.0_dev", True)):
            questions = load_jsonl(SHARED / name / "questions.jsonl")[: args.limit]
            linear = load_retrieval_settings(reader_candidates=0)  # what these weights score alone
            answerer = Answerer(ensure_index(name, args.cache, embedder), settings=linear, embedder=embedder)
            print(f"collecting {name} ({len(questions)} questions) ...", flush=True)
            samples += collect(answerer, questions, v2)
            if not v2:
                print("collecting uncovered questions (article left out) ...", flush=True)
                samples += collect_absent(answerer, questions, args.absent_every)
        if args.samples:
            with args.samples.open("wb") as fh:
                pickle.dump((feature_code_digest(), samples), fh)
    fit = [s for s in samples if not s.held_out]
    held = [s for s in samples if s.held_out]
    current_w = np.asarray([scoring.FEATURE_WEIGHTS[n] for n in WEIGHT_NAMES], dtype=np.float64)
    current_c = np.asarray([scoring.CONFIDENCE_WEIGHTS[n] for n in CALIBRATION_NAMES], dtype=np.float64)
    report("current, held-out half", held, current_w, current_c)
    weights = (
        current_w
        if args.keep_weights
        else fit_weights([s for s in fit if not s.v2 and not s.absent], current_w)
    )
    calibration = fit_calibration(fit, weights, args.v1_share, args.absent_share, signs=not args.no_signs)
    threshold = suggest_threshold(fit, weights, calibration)
    target = f"{100 * TARGET_FALSE_ABSTENTION:.0f}% false abstention"
    print(f"suggested confidence_threshold (fit half, {target}): {threshold}")
    report("fitted, fit half", fit, weights, calibration, threshold)
    report("fitted, held-out half", held, weights, calibration, threshold)
    print(fmt_named("FEATURE_WEIGHTS", weights, WEIGHT_NAMES))
    print(fmt_named("CONFIDENCE_WEIGHTS", calibration, CALIBRATION_NAMES))
    if args.write:
        write_back(weights, calibration)


if __name__ == "__main__":
    main()
