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
