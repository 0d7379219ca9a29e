"""The eval harness: both QA formats, answer matching, and the metrics' definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import ConfigError
from retrieval.eval import QAItem, contains_answer, evaluate, load_qa, normalize_answer
from retrieval.models import Answer, AnswerSentence


def sent(text: str, article_id: str = "a1") -> AnswerSentence:
    return AnswerSentence(
        text=text, article_id=article_id, score=0.9, sentence_id=1, start=0, end=len(text), position=0
    )


def test_normalize_and_contains() -> None:
    assert normalize_answer("The Denver Broncos!") == "denver broncos"
    assert contains_answer("The Denver Broncos won 24–10.", ["Denver Broncos"])
    assert not contains_answer("Denverite Broncoses", ["Denver"])
    assert not contains_answer("anything", [])


def test_load_squad_and_news_formats(tmp_path: Path) -> None:
    f = tmp_path / "qa.jsonl"
    rows = [
        {"id": "q1", "question": "Who won?", "answers": ["Denver"], "passage_id": "p1"},
        {"id": "q2", "question": "What is x?", "answers": [], "passage_id": "p1", "is_impossible": True},
        {"question": "How many died?", "answers": ["19"], "article_id": "n1", "answerable": True},
        {"question": "Population of Mars?", "answers": [], "answerable": False},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = load_qa(f)
    assert [i.answerable for i in items] == [True, False, True, False]
    assert items[0].article_id == "p1" and items[2].article_id == "n1"


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "qa.jsonl"
    f.write_text('{"question": "ok", "answers": ["x"]}\nnot json\n')
    with pytest.raises(ConfigError, match=r"qa\.jsonl:2"):
        load_qa(f)


def test_metrics() -> None:
    items = [
        QAItem(question="q1", answers=["19"], article_id="a1"),
        QAItem(question="q2", answers=["Mbeki"], article_id="a2"),
        QAItem(question="q3", answers=[], answerable=False),
        QAItem(question="q4", answers=[], answerable=False),
    ]
    answers = {
        "q1": Answer(question="q1", answered=True, confidence=0.9, sentences=[sent("At least 19 died.")]),
        "q2": Answer(
            question="q2",
            answered=False,
            confidence=0.1,
            alternatives=[sent("Shares rose."), sent("Mbeki saved two.", "a2")],
        ),
        "q3": Answer(question="q3", answered=False, confidence=0.1),
        "q4": Answer(question="q4", answered=True, confidence=0.8, sentences=[sent("Wrong.")]),
    }
    r = evaluate(lambda q: answers[q], items)
    assert r.hit_at_1 == 0.5 and r.hit_at_3 == 1.0
    assert r.cite_at_1 == 0.5 and r.answered_hit_at_1 == 0.5
    assert r.abstention == 0.5 and r.false_abstention == 0.5
    assert any("hit@1" in line for line in r.lines())


def test_marked_phrases_are_scored_against_the_gold_answers() -> None:
    """``newsbot eval`` says how often the bold phrase is the answer itself (SQuAD exact/F1)."""
    items = [
        QAItem(question="q1", answers=["19"], article_id="a1"),
        QAItem(question="q2", answers=["Daniel Mbeki"], article_id="a1"),
        QAItem(question="q3", answers=["£7.2m"], article_id="a1"),
    ]
    first = sent("At least 19 died.").model_copy(update={"answer_span": (9, 11)})
    second = sent("Goalkeeper Daniel Mbeki saved two.").model_copy(update={"answer_span": (0, 23)})
    third = sent("It took £7.2m.")  # right sentence, no phrase marked
    answers = {
        q: Answer(question=q, answered=True, confidence=0.9, sentences=[s])
        for q, s in (("q1", first), ("q2", second), ("q3", third))
    }
    r = evaluate(lambda q: answers[q], items)
    assert r.phrase_marked == pytest.approx(2 / 3)
    assert r.phrase_exact == 0.5  # "19" exact; "Goalkeeper Daniel Mbeki" is not
    assert r.phrase_f1 == pytest.approx((1.0 + 0.8) / 2)
    assert any(line.startswith("answer phrase") for line in r.lines())
    # a reader that marks nothing (no span head) adds no phrase line
    unmarked = evaluate(lambda q: answers["q3"], items[2:])
    assert unmarked.phrase_marked is None and unmarked.phrase_exact is None
    assert not any(line.startswith("answer phrase") for line in unmarked.lines())
