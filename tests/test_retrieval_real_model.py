"""The answer pipeline with the real packaged model over the shipped sample articles (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import reader_settings

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
    return Answerer(index_dir, settings=reader_settings(), embedder=embedder)


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


@pytest.fixture(scope="module")
def conflict_answerer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The demo articles plus a scrape (written for the tests) whose death-toll sentence names
    neither the region nor the verb of the question: the lead names the region, a vaguer
    sentence ("hundreds, perhaps thousands") names both."""
    from index.embedding import load_embedder
    from index.pipeline import build_index
    from index.settings import IndexSettings
    from retrieval import Answerer
    from retrieval.cli import demo_article_files

    index_dir: Path = tmp_path_factory.mktemp("conflict") / "idx"
    embedder = load_embedder()
    fixture = Path(__file__).parent / "fixtures" / "news" / "caucasus_desk.txt"
    sources = [*demo_article_files(), fixture]
    build_index(sources, IndexSettings(index_dir=index_dir), embedder, progress=False)
    return Answerer(index_dir, settings=reader_settings(), embedder=embedder)


def test_death_toll_found_through_lead_and_word_forms(conflict_answerer) -> None:  # type: ignore[no-untyped-def]
    # "died" is only "deaths" in the toll sentence, "Karabakh" only in the article's lead, and
    # a vaguer sentence has both "Karabakh" and "hundreds, perhaps thousands".
    for question in (
        "How many people died in the Karabakh fighting?",
        "How many died in the Karabakh fighting?",
    ):
        a = conflict_answerer.ask(question)
        assert a.answered, (question, a.confidence)
        assert "286" in a.sentences[0].text, question


def test_killed_question_finds_the_civilian_toll(conflict_answerer) -> None:  # type: ignore[no-untyped-def]
    a = conflict_answerer.ask("How many civilians have been killed in Nagorno-Karabakh?")
    assert a.answered and "46" in a.sentences[0].text
