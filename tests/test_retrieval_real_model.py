"""The answer pipeline with the real packaged model over the shipped sample articles (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.models import Turn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def answerer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from index.embedding import load_embedder
    from index.pipeline import build_index
    from index.settings import IndexSettings
    from retrieval import Answerer
    from retrieval.cli import demo_article_files

    index_dir: Path = tmp_path_factory.mktemp("real") / "idx"
    embedder = load_embedder()
    build_index(demo_article_files(), IndexSettings(index_dir=index_dir), embedder, progress=False)
    return Answerer(index_dir, embedder=embedder)


def test_headline_context_with_real_model(answerer) -> None:  # type: ignore[no-untyped-def]
    a = answerer.ask("How much did Harbour Lights take in its opening weekend?")
    assert a.answered and "£7.2m" in a.sentences[0].text


def test_reworded_question(answerer) -> None:  # type: ignore[no-untyped-def]
    a = answerer.ask("Which goalkeeper was the hero of the penalty shoot-out?")
    assert a.answered and "Mbeki" in a.sentences[0].text


def test_rising_toll_newest_first(answerer) -> None:  # type: ignore[no-untyped-def]
    a = answerer.ask("What is the latest death toll from the Marrow Valley floods?")
    assert a.answered and "19" in a.sentences[0].text


def test_follow_up_with_real_model(answerer) -> None:  # type: ignore[no-untyped-def]
    first = answerer.ask("Who won the National Cup final?")
    follow = answerer.ask("And how many fans watched?", history=[Turn.from_answer(first)])
    assert follow.answered and "82,000" in follow.sentences[0].text


@pytest.mark.parametrize(
    "question",
    [
        "What is the population of Mars?",
        "Who won the Eurovision song contest?",
        "How much does a Tesla cost?",
    ],
)
def test_uncovered_questions_abstain(answerer, question: str) -> None:  # type: ignore[no-untyped-def]
    a = answerer.ask(question)
    assert not a.answered and a.sentences == []
    assert a.suggestions
