"""Train the reader that ships in ``retrieval/reader_weights/`` (one command, ~40 min of training here).

    .venv/bin/python bench/train_reader.py [--minutes 58] [--epochs 0.75] [--limit N] [--out DIR]

1. Builds training groups (``retrieval/reader_train.py`` documents the format) in
   ``bench/out/reader/groups.jsonl``:
   * SQuAD v1.1 dev, v2.0 dev (its unanswerable questions: its answerable ones repeat v1.1's)
     and the v2.0 training part: each question is run through the real pipeline
     (``Answerer.explain``) over its own set's index, and the candidates it ranks are kept in
     its order, hardest first. The answer sentence is the one of the gold passage spanning a
     gold answer's offset, with the gold answers (the span head's target phrases); another
     sentence holding the answer's words is left out (neither answer nor negative). The gold
     passage's other sentences follow as negatives.
     The sentence right after the answer comes first of all negatives: its previous-sentence
     context holds the answer, and the reader must learn that context is not evidence.
     Only ``bench/squad_split.py``'s training articles are used: the held-out half and the
     calibration quarter of the fit half never reach training.
   * SelQA dev: the given section sentences, negatives ordered by shared words (hardest first),
     the sentence after the answer first.
     SelQA test is never read here.
   * ``--extra FILE``: your own groups in the same format (e.g. questions over your corpus).
2. Fine-tunes the reader on them (seeded; resumable: rerun the same command after a stop) and
   writes the weights and ``reader.json`` (config, data hashes) to ``--out``.
   ``--continue-from DIR`` starts from a trained reader instead of the packaged model's layers
   (a second round, or the shipped reader fine-tuned with ``--extra`` groups of your corpus);
   the record keeps the starting weights' hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval_bench import CachingEmbedder, ensure_index, load_jsonl  # noqa: E402
from squad_split import SHARED, part_of  # noqa: E402

from index.embedding import load_embedder  # noqa: E402
from index.lexical import tokenize  # noqa: E402
from index.models import Sentence  # noqa: E402
from index.settings import DEFAULT_MODEL  # noqa: E402
from retrieval.answerer import Answerer  # noqa: E402
from retrieval.eval import contains_answer  # noqa: E402
from retrieval.reader_files import WEIGHTS_DIR, WEIGHTS_FILE  # noqa: E402
from retrieval.settings import load_retrieval_settings  # noqa: E402

#: Negatives kept per question in the groups file (training reads the first few).
KEEP_NEGATIVES = 15
SQUAD_SETS = ("squad_v1.1_dev", "squad_v2.0_dev", "squad_v2.0_train_part")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def follower(
    sentences: list[Sentence], is_answer: Callable[[str, int, int], bool], answers: list[str], title: str
) -> dict | None:  # type: ignore[type-arg]
    """The sentence right after the answer, with the answer as its previous-sentence context.

    The reader sees the previous sentence as context, so without this negative it learns to
    score "the sentence after the answer" high: the answer is in its input. Training must show
    that context is not evidence.
    """
    for before, after in pairwise(sentences):
        if is_answer(before.article_id, before.start, before.end) and not (
            answers and contains_answer(after.text, answers)
        ):
            return {"sentence": after.text, "title": title, "previous": before.text, "label": 0}
    return None


def with_follower_first(negatives: list[dict], follow: dict | None) -> list[dict]:  # type: ignore[type-arg]
    """``follow`` as the hardest negative (training reads only the first few)."""
    if follow is None:
        return negatives
    return [follow] + [c for c in negatives if c["sentence"] != follow["sentence"]]


def squad_groups(name: str, cache: Path, embedder: CachingEmbedder, limit: int | None) -> list[dict]:  # type: ignore[type-arg]
    """Training groups of one SQuAD set, from the pipeline's own candidate lists."""
    questions = load_jsonl(SHARED / name / "questions.jsonl")
    train_part = name == "squad_v2.0_train_part"
    if not train_part:
        questions = [q for q in questions if part_of(q["article"]) == "train"]
    if name == "squad_v2.0_dev":
        questions = [q for q in questions if q.get("is_impossible", False)]
    questions = questions[:limit]
    linear = load_retrieval_settings(reader_candidates=0)  # the candidates the reader will see
    answerer = Answerer(ensure_index(name, cache, embedder), settings=linear, embedder=embedder)
    reader = answerer.reader
    embedder.preload([q["question"] for q in questions])
    out = []
    t0 = time.time()
    for n, q in enumerate(questions):
        scored, _ = answerer.explain(q["question"])
        ranked = [scored.candidates[i] for i in scored.order]
        gold_passage = q.get("passage_id")
        starts = [] if q.get("is_impossible", False) else list(q.get("answer_starts") or [])
        by_id = {s.id: s for s in reader.get_sentences([c.sentence_id for c in ranked])}
        passage_sents = reader.sentences_of_article(gold_passage, 0, 10_000) if gold_passage else []
        title = next((c.title for c in ranked if c.article_id == gold_passage), "")
        if not title and gold_passage:
            found = reader.get_articles([gold_passage]).get(gold_passage)
            title = found.title if found else ""

        def is_answer(
            article_id: str, start: int, end: int, gold: str | None = gold_passage, at: list[int] = starts
        ) -> bool:
            return article_id == gold and any(start <= a < end for a in at)

        cands: list[dict] = []  # type: ignore[type-arg]
        seen: set[int] = set()
        for c in ranked:
            s = by_id.get(c.sentence_id)
            if s is None:
                continue
            label = is_answer(c.article_id, s.start, s.end)
            if not label and q["answers"] and contains_answer(c.text, q["answers"]):
                continue  # the answer's words elsewhere: not a clean negative
            seen.add(c.sentence_id)
            cands.append({"sentence": c.text, "title": c.title, "previous": c.prev_text, "label": int(label)})
        prev = ""
        for s in passage_sents:
            if s.id not in seen:
                label = is_answer(gold_passage or "", s.start, s.end)
                if label or not (q["answers"] and contains_answer(s.text, q["answers"])):
                    cands.append({"sentence": s.text, "title": title, "previous": prev, "label": int(label)})
            prev = s.text
        pos = [c for c in cands if c["label"]]
        follow = follower(passage_sents, is_answer, q["answers"], title)
        neg = with_follower_first([c for c in cands if not c["label"]], follow)
        neg = neg[:KEEP_NEGATIVES]
        if not q.get("is_impossible", False) and not pos:
            continue  # the answer sentence was not found (offsets off): skip the question
        if pos:
            pos[0]["answers"] = list(q["answers"])  # the span head's target phrases
        out.append({"question": q["question"], "origin": name, "candidates": pos[:1] + neg})
        if n and n % 1000 == 0:
            print(f"  {name} {n}/{len(questions)} ({time.time() - t0:.0f} s)", flush=True)
    return out


def selqa_groups(limit: int | None) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for d in load_jsonl(SHARED / "selqa" / "dev.jsonl")[:limit]:
        q_terms = set(tokenize(d["question"]))
        title = f"{d['article']}: {d['section']}"
        cands = []
        for i, text in enumerate(d["candidates"]):
            prev = d["candidates"][i - 1] if i else ""
            overlap = len(q_terms & set(tokenize(text)))
            cands.append(
                (
                    {"sentence": text, "title": title, "previous": prev, "label": int(i in d["answers"])},
                    overlap,
                )
            )
        pos = [c for c, _ in cands if c["label"]]
        neg = [c for c, _ in sorted((x for x in cands if not x[0]["label"]), key=lambda x: -x[1])]
        after = [i + 1 for i in d["answers"] if i + 1 < len(cands) and not cands[i + 1][0]["label"]]
        neg = with_follower_first(neg, cands[after[0]][0] if after else None)
        out.append(
            {"question": d["question"], "origin": "selqa_dev", "candidates": pos[:1] + neg[:KEEP_NEGATIVES]}
        )
    return out


def main() -> None:
    from retrieval.reader_train import TrainConfig, load_groups, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "squad")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "reader")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of each set")
    ap.add_argument("--minutes", type=float, default=58.0, help="stop training after this long")
    ap.add_argument("--epochs", type=float, default=0.75)
    ap.add_argument("--layers", type=int, default=TrainConfig.layers)
    ap.add_argument("--extra", type=Path, action="append", default=[], help="more groups (JSONL)")
    ap.add_argument("--rebuild-groups", action="store_true", help="recollect the groups file")
    ap.add_argument(
        "--continue-from",
        type=Path,
        default=None,
        help="a reader weights dir to continue training from (e.g. retrieval/reader_weights)",
    )
    ap.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--span-weight", type=float, default=TrainConfig.span_weight,
                    help="weight of the answer-phrase loss (0: no span head)")
    ap.add_argument("--answerless-negatives", action=argparse.BooleanOptionalAction,
                    default=TrainConfig.answerless_negatives,
                    help="add each answer sentence with its answer cut out as a negative")
    args = ap.parse_args()
    if not (SHARED / "squad_v1.1_dev").is_dir():
        sys.exit(f"{SHARED} not found")
    args.work.mkdir(parents=True, exist_ok=True)
    groups_file = args.work / "groups.jsonl"
    used = [SHARED / name / f for name in SQUAD_SETS for f in ("questions.jsonl", "passages.jsonl")]
    used.append(SHARED / "selqa" / "dev.jsonl")
    if args.rebuild_groups or not groups_file.exists():
        embedder = CachingEmbedder(load_embedder(DEFAULT_MODEL))
        groups = []
        for name in SQUAD_SETS:
            print(f"collecting {name} ...", flush=True)
            groups += squad_groups(name, args.cache, embedder, args.limit)
        groups += selqa_groups(args.limit)
        tmp = groups_file.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for g in groups:
                fh.write(json.dumps(g, ensure_ascii=False) + "\n")
        tmp.replace(groups_file)
    data = load_groups(groups_file)
    hashes = {str(p.relative_to(SHARED)): sha256_of(p) for p in used}
    for extra in args.extra:
        data += load_groups(extra)
        hashes[f"extra:{extra.name}"] = sha256_of(extra)
    hashes["groups.jsonl"] = sha256_of(groups_file)
    unanswerable = sum(1 for g in data if not any(g.labels))
    print(f"{len(data)} training groups ({unanswerable} unanswerable)", flush=True)
    start = None
    if args.continue_from is not None:
        start = args.continue_from / WEIGHTS_FILE
        if not start.is_file():
            sys.exit(f"--continue-from: no {WEIGHTS_FILE} in {args.continue_from}")
        # a copy: --out may be the same folder, and the file is rewritten at the end
        copy = args.work / f"start-{WEIGHTS_FILE}"
        shutil.copyfile(start, copy)
        start = copy
    config = TrainConfig(
        layers=args.layers,
        epochs=args.epochs,
        max_minutes=args.minutes,
        learning_rate=args.learning_rate,
        seed=args.seed,
        span_weight=args.span_weight,
        answerless_negatives=args.answerless_negatives,
        start_weights=sha256_of(start) if start else "",
    )
    train(data, config, args.work, args.out, hashes, log=lambda m: print(m, flush=True), start_from=start)


if __name__ == "__main__":
    main()
