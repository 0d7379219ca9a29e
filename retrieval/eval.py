"""Scoring the answerer against questions with gold answers (``newsbot eval``).

Two JSONL formats are read:

* SQuAD style: ``{"question", "answers": [...], "passage_id", "is_impossible"?}``; the gold
  article is ``passage_id``;
* news style: ``{"question", "answers": [...], "article_id"?, "answerable"?: bool}``.

A hit is a gold answer string inside a returned sentence, compared after the usual SQuAD
normalisation (lower case, punctuation and articles removed). ``hit@k`` looks at the ranked
sentences whether or not the answerer abstained (it measures ranking); ``answered_hit@1``
counts an abstention as a miss (what a user sees).
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from index.errors import ConfigError
from retrieval.models import Answer, AnswerSentence

_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—"}
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(sentence: str, answers: Iterable[str]) -> bool:
    """Whether any gold answer occurs in the sentence (normalised, on word boundaries)."""
    norm = f" {normalize_answer(sentence)} "
    for a in answers:
        g = normalize_answer(a)
        if g and f" {g} " in norm:
            return True
    return False


class QAItem(BaseModel):
    """One evaluation question."""

    question: str
    answers: list[str] = Field(default_factory=list)
    article_id: str | None = None
    answerable: bool = True
    id: str | None = None


def phrase_match(phrase: str, answers: Iterable[str]) -> tuple[bool, float]:
    """SQuAD's exact match and word F1 of a marked phrase against the best gold answer."""
    words = normalize_answer(phrase).split()
    exact, best = False, 0.0
    for a in answers:
        gold = normalize_answer(a).split()
        exact = exact or words == gold
        common = sum(min(words.count(w), gold.count(w)) for w in set(words))
        if common:
            precision, recall = common / len(words), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return exact, 1.0 if exact else best


def read_text_lines(path: Path, flag: str) -> list[str]:
    """The lines of a UTF-8 text file the user named with ``flag``; a ConfigError line when it
    is missing or not UTF-8 (naming the line of the first bad byte)."""
    if not path.is_file():
        raise ConfigError(f"{flag}: no such file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag}: {path}: unreadable ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8").split("\n")  # not splitlines(): U+2028 may sit inside JSON
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{flag}: {path}:{line}: not UTF-8 text (byte {exc.start})") from None


def load_qa(path: Path) -> list[QAItem]:
    """Read a SQuAD-style or news-style JSONL file; a bad line is a ConfigError naming it."""
    items: list[QAItem] = []
    for n, line in enumerate(read_text_lines(path, "--qa"), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict) or not isinstance(d.get("question"), str):
                raise ValueError("needs a 'question' string")
            answers = [a for a in d.get("answers") or [] if isinstance(a, str) and a.strip()]
            if "is_impossible" in d:
                answerable = not bool(d["is_impossible"])
            elif "answerable" in d:
                answerable = bool(d["answerable"])
            else:
                answerable = bool(answers)
            items.append(
                QAItem(
                    question=d["question"],
                    answers=answers,
                    article_id=d.get("article_id") or d.get("passage_id"),
                    answerable=answerable and bool(answers),
                    id=d.get("id"),
                )
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: {exc}") from None
    return items


class EvalReport(BaseModel):
    """The numbers ``newsbot eval`` prints (fractions in [0, 1], latency in ms)."""

    questions: int
    answerable: int
    unanswerable: int
    hit_at_1: float
    hit_at_3: float
    cite_at_1: float = Field(description="first sentence holds a gold answer and is from the gold article")
    answered_hit_at_1: float = Field(description="hit@1 counting an abstention as a miss")
    answered_hit_at_3: float = Field(default=0.0, description="hit@3 counting an abstention as a miss")
    abstention: float | None = Field(description="share of unanswerable questions answered 'I don't know'")
    false_abstention: float | None = Field(description="share of answerable questions not answered")
    latency_p50_ms: float
    latency_p95_ms: float
    phrase_marked: float | None = Field(
        default=None,
        description="share of right first sentences whose answer phrase is marked (null: none marked)",
    )
    phrase_exact: float | None = Field(
        default=None, description="marked phrases equal to a gold answer (SQuAD exact match)"
    )
    phrase_f1: float | None = Field(default=None, description="mean word F1 of the marked phrases")

    def lines(self) -> list[str]:
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}%"

        phrase = (
            [
                f"answer phrase        {pct(self.phrase_marked)} of right first sentences marked; "
                f"exact {pct(self.phrase_exact)}, F1 {pct(self.phrase_f1)}"
            ]
            if self.phrase_marked is not None
            else []
        )
        return [
            f"questions            {self.questions} ({self.answerable} answerable, {self.unanswerable} not)",
            f"hit@1                {pct(self.hit_at_1)}",
            f"hit@3                {pct(self.hit_at_3)}",
            f"cite@1               {pct(self.cite_at_1)}",
            f"answered hit@1       {pct(self.answered_hit_at_1)}  (an 'I don't know' counts as a miss)",
            f"answered hit@3       {pct(self.answered_hit_at_3)}",
            f"abstention           {pct(self.abstention)}  (unanswerable answered 'I don't know')",
            f"false abstention     {pct(self.false_abstention)}  (answerable not answered)",
            f"latency p50 / p95    {self.latency_p50_ms:.1f} / {self.latency_p95_ms:.1f} ms",
            *phrase,
        ]


def ranked(answer: Answer) -> list[AnswerSentence]:
    """The sentences in rank order, whether or not the answer was given."""
    return list(answer.sentences) + list(answer.alternatives)


def evaluate(
    ask: Callable[[str], Answer], items: list[QAItem], progress: Callable[[int], None] | None = None
) -> EvalReport:
    """Ask every question and score the answers."""
    hits1 = hits3 = cites = ans_hits = ans_hits3 = 0
    abstained_unans = abstained_ans = 0
    n_ans = sum(1 for it in items if it.answerable)
    latencies: list[float] = []
    marks: list[tuple[bool, float]] = []
    for i, it in enumerate(_each(items, progress)):
        t = time.perf_counter()
        answer = ask(it.question)
        latencies.append((time.perf_counter() - t) * 1000)
        if not it.answerable:
            abstained_unans += 0 if answer.answered else 1
            continue
        abstained_ans += 0 if answer.answered else 1
        top3 = ranked(answer)[:3]
        flags = [contains_answer(s.text, it.answers) for s in top3]
        if flags and flags[0]:
            hits1 += 1
            if it.article_id is None or top3[0].article_id == it.article_id:
                cites += 1
            if answer.answered:
                ans_hits += 1
                span = top3[0].answer_span
                if span is not None:
                    exact, f1 = phrase_match(top3[0].text[span[0] : span[1]], it.answers)
                    marks.append((exact, f1))
        if any(flags):
            hits3 += 1
            ans_hits3 += 1 if answer.answered else 0
        del i
    n_un = len(items) - n_ans
    lat = np.asarray(latencies or [0.0])
    return EvalReport(
        questions=len(items),
        answerable=n_ans,
        unanswerable=n_un,
        hit_at_1=hits1 / n_ans if n_ans else 0.0,
        hit_at_3=hits3 / n_ans if n_ans else 0.0,
        cite_at_1=cites / n_ans if n_ans else 0.0,
        answered_hit_at_1=ans_hits / n_ans if n_ans else 0.0,
        answered_hit_at_3=ans_hits3 / n_ans if n_ans else 0.0,
        abstention=abstained_unans / n_un if n_un else None,
        false_abstention=abstained_ans / n_ans if n_ans else None,
        latency_p50_ms=float(np.percentile(lat, 50)),
        latency_p95_ms=float(np.percentile(lat, 95)),
        # Only a reader with a span head marks phrases: without one, no phrase line at all.
        phrase_marked=len(marks) / ans_hits if marks else None,
        phrase_exact=float(np.mean([m[0] for m in marks])) if marks else None,
        phrase_f1=float(np.mean([m[1] for m in marks])) if marks else None,
    )


def _each(items: list[QAItem], progress: Callable[[int], None] | None) -> Iterator[QAItem]:
    for i, it in enumerate(items):
        if progress is not None and i and i % 500 == 0:
            progress(i)
        yield it
