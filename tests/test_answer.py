"""The Answerer end to end over a real (small) index built with the hashing test embedder.

The articles are written for these tests (fictional); what is asserted is what a user sees:
the cited sentence is the article's own text at its offsets, uncovered questions get "I don't
know" with suggestions, follow-ups stay on topic, filters restrict the sources and dates.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from index.embedding import HashingEmbedder
from index.models import Article
from index.pipeline import apply_changes
from index.settings import IndexSettings
from retrieval import Answerer
from retrieval.models import Answer, Filters, Turn
from retrieval.settings import RetrievalSettings

ARTICLES = [
    Article(
        id="karabakh-1",
        title="Fighting in Nagorno-Karabakh enters second week",
        body=(
            "Fighting between Armenian and Azerbaijani forces over Nagorno-Karabakh entered its "
            "second week on Sunday. Officials said 286 people have died in the Karabakh fighting so "
            "far, most of them soldiers. Of the dead, 31 were civilians, according to local "
            "authorities. Shelling hit the city of Ganja overnight, where four people were injured."
        ),
        date=datetime(2020, 10, 6, tzinfo=UTC),
        source="World Desk",
        url="https://worlddesk.example/karabakh-week-two",
    ),
    Article(
        id="film-1",
        title="Harbour Lights breaks box office record",
        body=(
            "The drama opened on Friday in 410 cinemas. It took £7.2m in its first weekend, a record "
            "for a debut director. The director shot it in 24 days on the coast."
        ),
        date=datetime(2025, 2, 10, tzinfo=UTC),
        source="Screen Weekly",
        url="https://screen.example/harbour-lights",
    ),
    Article(
        id="rail-1",
        title="Train drivers strike on Castleford line",
        body=(
            "Train drivers on the Castleford line will strike for 48 hours from Monday. The union "
            "said 91% of members backed the walkout. The operator urged passengers to work from home."
        ),
        date=datetime(2025, 1, 22, tzinfo=UTC),
        source="Daily Courier",
        url="https://courier.example/castleford-strike",
    ),
    Article(
        id="flood-old",
        title="Floods hit Marrow Valley",
        body=(
            "At least 12 people have died in the Marrow Valley floods. More than 400 homes were "
            "evacuated in Eldersby."
        ),
        date=datetime(2025, 3, 3, tzinfo=UTC),
        source="Northern Ledger",
    ),
    Article(
        id="flood-new",
        title="Marrow Valley flood toll rises",
        body=(
            "At least 19 people have died in the Marrow Valley floods. Seven more bodies were "
            "recovered near Coldwater."
        ),
        date=datetime(2025, 3, 6, tzinfo=UTC),
        source="Northern Ledger",
    ),
]


def build(index_dir: Path, articles: list[Article]) -> None:
    settings = IndexSettings(index_dir=index_dir, model="hashing-test")
    apply_changes(articles, (), settings, HashingEmbedder(), replace_all=True)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    build(tmp_path / "idx", ARTICLES)
    return tmp_path / "idx"


@pytest.fixture
def answerer(index_dir: Path, hashing_settings: RetrievalSettings) -> Answerer:
    return Answerer(index_dir, settings=hashing_settings, embedder=HashingEmbedder())


def test_answer_quotes_article_sentence_with_exact_offsets(answerer: Answerer) -> None:
    answer = answerer.ask("How many people died in the Karabakh fighting?")
    assert answer.answered
    top = answer.sentences[0]
    assert "286" in top.text
    assert top.article_id == "karabakh-1"
    body = next(a.body for a in ARTICLES if a.id == top.article_id)
    assert body[top.start : top.end] == top.text
    assert top.title.startswith("Fighting in Nagorno-Karabakh")
    assert top.source == "World Desk"
    assert top.url == "https://worlddesk.example/karabakh-week-two"
    assert top.date is not None and top.date.year == 2020
    assert 0.0 <= answer.confidence <= 1.0
    assert 1 <= len(answer.sentences) <= 3


def test_every_returned_sentence_is_article_text(answerer: Answerer) -> None:
    bodies = {a.id: a.body for a in ARTICLES}
    for q in ["How much did Harbour Lights take?", "How long will the train strike last?"]:
        answer = answerer.ask(q)
        for s in answer.sentences + answer.alternatives:
            assert bodies[s.article_id][s.start : s.end] == s.text


def test_sentences_are_not_repeated(answerer: Answerer) -> None:
    answer = answerer.ask("How many people died in the Marrow Valley floods?")
    texts = [s.text for s in answer.sentences]
    assert len(texts) == len(set(texts))


def test_headline_context_answers_pronoun_sentence(answerer: Answerer) -> None:
    # "It took £7.2m…" names the film only in the headline.
    answer = answerer.ask("How much money did Harbour Lights make in its first weekend?")
    assert answer.answered
    assert "£7.2m" in answer.sentences[0].text


def test_uncovered_question_gets_i_dont_know_with_suggestions(answerer: Answerer) -> None:
    answer = answerer.ask("What is the boiling point of liquid nitrogen on Jupiter's moons?")
    assert not answer.answered
    assert answer.sentences == []
    assert answer.confidence < answerer.settings.confidence_threshold
    data = answer.model_dump(mode="json")
    assert data["answered"] is False


def test_suggestions_listed_when_not_answered(answerer: Answerer) -> None:
    strict = answerer.settings.model_copy(update={"confidence_threshold": 1.01})
    a = Answerer(answerer.index_dir, settings=strict, embedder=answerer.embedder)
    answer = a.ask("How many people died in the Karabakh fighting?")
    assert not answer.answered
    assert answer.suggestions and answer.suggestions[0].article_id == "karabakh-1"
    assert answer.alternatives  # still ranked, for a "More" button


def test_followup_resolved_against_previous_turn(answerer: Answerer) -> None:
    first = answerer.ask("How many people died in the Karabakh fighting?")
    history = [Turn.from_answer(first)]
    follow = answerer.ask("And how many were civilians?", history=history)
    assert follow.resolved_question and "Karabakh" in follow.resolved_question
    assert follow.answered
    assert "31" in follow.sentences[0].text
    assert follow.sentences[0].article_id == "karabakh-1"


def test_what_about_followup_keeps_the_question(answerer: Answerer) -> None:
    first = answerer.ask("How many people died in the Karabakh fighting?")
    follow = answerer.ask("What about Ganja?", history=[Turn.from_answer(first)])
    assert follow.resolved_question and "Ganja" in follow.resolved_question
    assert "Ganja" in follow.sentences[0].text


def test_new_topic_is_not_dragged_to_old_one(answerer: Answerer) -> None:
    first = answerer.ask("How many people died in the Karabakh fighting?")
    other = answerer.ask(
        "How long will the Castleford train drivers strike?", history=[Turn.from_answer(first)]
    )
    assert other.resolved_question == other.question
    assert other.sentences[0].article_id == "rail-1"


def test_source_filter(answerer: Answerer) -> None:
    answer = answerer.ask("How many people died?", filters=Filters(sources=["Northern Ledger"]))
    for s in answer.sentences + answer.alternatives + [*answer.suggestions]:  # type: ignore[operator]
        assert s.source == "Northern Ledger"


def test_date_filter(answerer: Answerer) -> None:
    f = Filters(since=date(2025, 3, 5), until=date(2025, 3, 31))
    answer = answerer.ask("How many people have died in the Marrow Valley floods?", filters=f)
    assert answer.sentences and all(s.article_id == "flood-new" for s in answer.sentences)
    assert "19" in answer.sentences[0].text


def test_filter_matching_nothing_is_an_honest_no(answerer: Answerer) -> None:
    answer = answerer.ask("How many people died?", filters=Filters(sources=["No Such Paper"]))
    assert not answer.answered and answer.sentences == []
    assert answer.notes


def test_newer_article_wins_a_tie(answerer: Answerer) -> None:
    answer = answerer.ask("How many people have died in the Marrow Valley floods?")
    assert answer.sentences[0].article_id == "flood-new"


def test_time_words_without_matching_dates_fall_back(answerer: Answerer) -> None:
    answer = answerer.ask(
        "How many people died in the Karabakh fighting this week?", now=datetime(2030, 1, 9, tzinfo=UTC)
    )
    assert answer.answered and "286" in answer.sentences[0].text
    assert any("this week" in n for n in answer.notes)


def test_context_passage_around_cited_sentence(answerer: Answerer) -> None:
    answer = answerer.ask("How many were civilians in the Karabakh fighting?")
    cited = answer.sentences[0]
    passage = answerer.context(cited.sentence_id, window=1)
    assert passage.article_id == cited.article_id
    marked = [s for s in passage.sentences if s.cited]
    assert len(marked) == 1 and marked[0].text == cited.text
    assert len(passage.sentences) >= 2


def test_reload_picks_up_new_version_and_old_answers_still_work(index_dir: Path, answerer: Answerer) -> None:
    assert answerer.reload_if_newer() is False
    extra = Article(
        id="space-1",
        title="Probe finds ice on the moon",
        body="A lunar probe found water ice in the Kessler crater. The ice makes up about 5% of the soil.",
        source="Science Desk",
    )
    build(index_dir, [*ARTICLES, extra])
    results: list[Answer] = []
    t = threading.Thread(target=lambda: results.append(answerer.ask("Where did the probe find ice?")))
    t.start()
    assert answerer.reload_if_newer() is True
    t.join()
    answer = answerer.ask("Where did the lunar probe find water ice?")
    assert answer.sentences[0].article_id == "space-1"
    assert results and results[0].question


def test_empty_question() -> None:
    assert Answer(question="", answered=False, confidence=0.0).model_dump(mode="json")["sentences"] == []


def test_json_fields_contract(answerer: Answerer) -> None:
    data = answerer.ask("How much did Harbour Lights take?").model_dump(mode="json")
    for key in ("question", "answered", "confidence", "sentences", "suggestions"):
        assert key in data
    for s in data["sentences"]:
        assert {"text", "article_id", "title", "source", "date", "url", "score"} <= set(s)


def test_a_date_filter_says_how_many_undated_articles_it_left_out(
    tmp_path: Path, hashing_settings: RetrievalSettings
) -> None:
    undated = [
        Article(id=f"undated-{i}", title="Marrow Valley rescue", source=source,
                body=f"Rescuers in the Marrow Valley found {i} more survivors. The search goes on.")
        for i, source in enumerate(["Northern Ledger", "Northern Ledger", "Screen Weekly"])
    ]
    build(tmp_path / "idx", [*ARTICLES, *undated])
    answerer = Answerer(tmp_path / "idx", settings=hashing_settings, embedder=HashingEmbedder())
    question = "How many people have died in the Marrow Valley floods?"
    dated = answerer.ask(question, filters=Filters(since=date(2025, 3, 5)))
    assert "3 undated articles left out by the date filter" in dated.notes
    assert all(s.article_id == "flood-new" for s in dated.sentences)
    one_source = answerer.ask(question, filters=Filters(until=date(2025, 3, 5), sources=["Screen Weekly"]))
    assert "1 undated article left out by the date filter" in one_source.notes
    assert not any("undated" in n for n in answerer.ask(question).notes)
    by_source = answerer.ask(question, filters=Filters(sources=["Northern"]))
    assert not any("undated" in n for n in by_source.notes)


def test_retrieval_needs_only_the_store_protocol(answerer: Answerer) -> None:
    """Behind a reader offering nothing but ``StoreReader``'s members, every answer, passage and
    index fact is the same as over the FAISS + SQLite reader itself."""
    from doubles import ProtocolOnlyReader

    from retrieval.service import NewsService

    only = ProtocolOnlyReader(answerer.reader)
    behind = Answerer(answerer.index_dir, settings=answerer.settings, embedder=answerer.embedder,
                      reader=only, answer_reader=answerer.answer_reader)
    asks = [
        ("How many people died in the Karabakh fighting?", None),
        ("How many people have died in the Marrow Valley floods?", Filters(since=date(2025, 3, 5))),
        ("How many people died?", Filters(sources=["Northern Ledger"])),
        ("What is the boiling point of liquid nitrogen on Jupiter's moons?", None),
    ]
    for question, filters in asks:
        a, b = behind.ask(question, filters=filters), answerer.ask(question, filters=filters)
        assert (a.answered, a.sentences, a.alternatives, a.suggestions, a.notes) == (
            b.answered, b.sentences, b.alternatives, b.suggestions, b.notes)
        assert a.confidence == pytest.approx(b.confidence)
    sid = answerer.ask(asks[0][0]).sentences[0].sentence_id
    assert behind.context(sid, 1) == answerer.context(sid, 1)
    served, direct = NewsService(behind), NewsService(answerer)
    assert served.latest(3) == direct.latest(3) and served.about() == direct.about()
    assert served.version == direct.version and served.reload_if_newer() is False
    assert {"idf_sentences", "search_chunks", "bm25_sentences", "sentence_vectors"} <= only.calls
