"""How training picks a group's pairs, and the answerless look-alike it can add (pure, no model)."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("torch")

from retrieval.reader_pairs import ReaderPair
from retrieval.reader_train import Group, sample_group, without_answer

QUESTION = "Which judge set the trial date in the Balco case?"
ANSWER = "US district court judge Susan Ilston set a trial date in the Balco case for March."


def test_the_answer_phrase_is_cut_out_and_the_rest_kept() -> None:
    cut = without_answer(ANSWER, ["Susan Ilston"])
    assert cut == "US district court judge set a trial date in the Balco case for March."


def test_every_occurrence_and_the_longest_phrase_go_and_the_start_is_tidied() -> None:
    sentence = "Victor Conte, founder of Balco, said Conte had done nothing wrong at the time."
    cut = without_answer(sentence, ["Conte", "Victor Conte"])
    assert cut == "Founder of Balco, said had done nothing wrong at the time."
    assert without_answer("Sales rose by 11% (£2bn) last year in Europe.", ["11%", "£2bn"]) == (
        "Sales rose by last year in Europe."
    )


def test_no_cut_when_the_phrase_is_absent_part_of_a_word_or_too_little_is_left() -> None:
    assert without_answer(ANSWER, ["Bonderman"]) is None
    assert without_answer("The Ilstonian court sat in March and heard the whole case.", ["Ilston"]) is None
    assert without_answer("It took £7.2m on Friday.", ["£7.2m"]) is None
    assert without_answer(ANSWER, []) is None


def _group(answers: list[str]) -> Group:
    negatives = [f"Negative sentence number {i} about the Balco case and its trial." for i in range(4)]
    pairs = [ReaderPair(QUESTION, s, "Balco trial") for s in (*negatives[:2], ANSWER, *negatives[2:])]
    labels = [0, 0, 1, 0, 0]
    return Group(QUESTION, pairs, labels, [[], [], answers, [], []])


def test_the_answerless_copy_replaces_the_last_negative_and_keeps_its_context() -> None:
    pairs, labels, answers = sample_group(_group(["Susan Ilston"]), 4, random.Random(0), answerless=True)
    assert [p.sentence for p in pairs[:3]] == [
        ANSWER,
        "Negative sentence number 0 about the Balco case and its trial.",
        "Negative sentence number 1 about the Balco case and its trial.",
    ]
    assert labels == [1, 0, 0, 0] and answers[0] == ["Susan Ilston"] and answers[3] == []
    assert "Ilston" not in pairs[3].sentence and pairs[3].title == "Balco trial"


def test_without_the_option_or_a_known_phrase_the_group_is_the_hardest_negatives() -> None:
    plain = sample_group(_group(["Susan Ilston"]), 4, random.Random(0))
    unknown = sample_group(_group([]), 4, random.Random(0), answerless=True)
    for pairs, labels, _ in (plain, unknown):
        assert labels == [1, 0, 0, 0]
        assert pairs[3].sentence == "Negative sentence number 2 about the Balco case and its trial."


def test_a_small_group_gains_the_answerless_copy_without_losing_a_negative() -> None:
    pairs, labels, _ = sample_group(_group(["Susan Ilston"]), 8, random.Random(0), answerless=True)
    assert labels == [1, 0, 0, 0, 0, 0] and "Ilston" not in pairs[-1].sentence
