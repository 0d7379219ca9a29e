"""Question understanding: answer types, follow-up resolution, time words, fusion."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from retrieval.fusion import fused_order, rrf
from retrieval.models import Filters, Turn
from retrieval.query import (
    LEMMA_GROUPS,
    AnswerType,
    answer_type,
    capitalised_terms,
    content_terms,
    expand_for_search,
    is_followup,
    lemma,
    resolve_followup,
)
from retrieval.timewords import merge_filters, parse_time_words

KARABAKH = Turn(question="How many people died in the Karabakh fighting?", article_ids=["k1"])


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people died in the Karabakh fighting?", AnswerType.NUMBER),
        ("How much did the film take?", AnswerType.NUMBER),
        ("What percentage of members backed the strike?", AnswerType.NUMBER),
        ("When did the strike start?", AnswerType.DATE),
        ("In what year was the bridge built?", AnswerType.DATE),
        ("Who is the mayor of Ashbury?", AnswerType.PERSON),
        ("Where did the probe find ice?", AnswerType.PLACE),
        ("Which country hosted the talks?", AnswerType.PLACE),
        ("What was the half-time score in Rome?", AnswerType.NUMBER),
        ("What is the population of Ashbury?", AnswerType.NUMBER),
        ("Which games company could the group buy?", AnswerType.PERSON),
        ("What is the new name of the band?", AnswerType.OTHER),
        ("Why did shares rise?", AnswerType.OTHER),
    ],
)
def test_answer_type(question: str, kind: AnswerType) -> None:
    assert answer_type(question) == kind


def test_content_terms_drop_question_words_and_keep_figures() -> None:
    terms = content_terms("How many people died in Turkey's fighting since 1,000 troops arrived?")
    assert "1000" in terms
    assert "turkey" in terms
    assert "how" not in terms and "many" not in terms


def test_capitalised_terms_skip_first_word() -> None:
    assert capitalised_terms("Where did Redport City play?") == ["redport", "citi"]


def test_followup_with_own_wh_word_borrows_topic() -> None:
    res = resolve_followup("And how many were civilians?", [KARABAKH])
    assert res.is_followup
    assert "Karabakh" in res.resolved and "civilians" in res.resolved
    assert res.prefer_articles == ["k1"]
    q = res.query_info()
    assert q.kind == AnswerType.NUMBER
    assert "civilian" in q.terms and "karabakh" in q.context_terms


def test_what_about_followup_reasks_previous_question() -> None:
    res = resolve_followup("What about Ganja?", [KARABAKH])
    assert res.is_followup
    assert res.resolved.startswith("How many people died")
    assert "Ganja" in res.resolved
    q = res.query_info()
    assert q.kind == AnswerType.NUMBER
    assert q.terms == ["ganja"]


def test_standalone_question_is_not_a_followup() -> None:
    res = resolve_followup("Who won the Eastmoor by-election in February?", [KARABAKH])
    assert not res.is_followup
    assert res.resolved == res.question


def test_no_history_no_followup() -> None:
    assert not is_followup("And how many were civilians?", None)
    assert resolve_followup("And how many were civilians?", None).resolved == "And how many were civilians?"


def test_who_said_that_is_a_followup() -> None:
    assert is_followup("who said that?", KARABAKH)


NOW = datetime(2025, 3, 6, 15, 0, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("What happened today?", date(2025, 3, 6), date(2025, 3, 6)),
        ("Who won yesterday?", date(2025, 3, 5), date(2025, 3, 5)),
        ("Any news on the floods this week?", date(2025, 3, 3), date(2025, 3, 6)),
        ("What did the council do last week?", date(2025, 2, 24), date(2025, 3, 2)),
        ("Strikes last month?", date(2025, 2, 1), date(2025, 2, 28)),
        ("What happened this month?", date(2025, 3, 1), date(2025, 3, 6)),
    ],
)
def test_time_words(question: str, since: date, until: date) -> None:
    tw = parse_time_words(question, NOW)
    assert (tw.since, tw.until) == (since, until)


def test_latest_means_recency_not_range() -> None:
    tw = parse_time_words("What is the latest death toll?", NOW)
    assert tw.latest and tw.since is None


def test_no_time_words() -> None:
    tw = parse_time_words("How many people died?", NOW)
    assert tw.since is None and tw.until is None and not tw.latest


def test_explicit_filters_win_over_time_words() -> None:
    explicit = Filters(since=date(2024, 1, 1), sources=["Daily Courier"])
    merged = merge_filters(explicit, parse_time_words("news this week", NOW))
    assert merged.since == date(2024, 1, 1) and merged.until is None
    assert merged.sources == ["Daily Courier"]
    merged = merge_filters(Filters(sources=["X"]), parse_time_words("news this week", NOW))
    assert merged.since == date(2025, 3, 3) and merged.sources == ["X"]


def test_rrf_rewards_agreement() -> None:
    dense = [1, 2, 3]
    bm25 = [3, 4, 1]
    order = fused_order([dense, bm25])
    assert order[0] in (1, 3)
    assert set(order) == {1, 2, 3, 4}
    scores = rrf([dense, bm25])
    assert scores[1] > scores[2] and scores[3] > scores[4]


def test_who_said_that_borrows_names_from_previous_answer() -> None:
    prev = Turn(
        question="What did the mayor say about the budget?",
        sentences=["Mayor Helena Strand said the extra money would pay for two new schools."],
    )
    res = resolve_followup("Who said that?", [prev])
    assert res.is_followup and "Strand" in res.resolved


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("died", "deaths"),
        ("dead", "killed"),
        ("fatalities", "die"),
        ("won", "wins"),
        ("bought", "buying"),
        ("rose", "rises"),
        ("fell", "falling"),
        ("sold", "sales"),
        ("lost", "losses"),
        ("grew", "growth"),
    ],
)
def test_lemma_groups_join_irregular_and_noun_verb_forms(a: str, b: str) -> None:
    assert content_terms(a) == content_terms(b)


def test_lemma_groups_leave_other_words_apart() -> None:
    assert content_terms("deaths") != content_terms("lives")
    assert content_terms("won") != content_terms("want")
    assert lemma("karabakh") == "karabakh"
    # every canonical stem is what the index tokenizer gives its first word (idf lookups)
    for group in LEMMA_GROUPS:
        assert content_terms(group[0]) == [lemma(content_terms(group[0])[0])]


def test_expand_for_search_adds_one_form_per_group() -> None:
    assert expand_for_search("How many people died?") == "How many people died? death"
    assert expand_for_search("How many deaths?") == "How many deaths? die"
    assert expand_for_search("Who scored the goal?") == "Who scored the goal?"


def test_hyphenated_and_possessive_names_split_like_index_terms() -> None:
    from retrieval.query import capitalised_terms, content_terms

    names = capitalised_terms("How many civilians died in Nagorno-Karabakh and Azerbaijan's north?")
    assert {"nagorno", "karabakh", "azerbaijan"} <= set(names)
    assert set(names) <= set(content_terms("Nagorno-Karabakh Azerbaijan"))


def test_acronym_that_lowercases_to_a_function_word_stays_a_term() -> None:
    from retrieval.query import content_terms, term_set

    assert "IT" in content_terms("How many IT jobs will the Dutch bank cut?")
    assert "IT" in term_set("The bank will cut 1,200 IT jobs.")
    assert "IT" not in term_set("It will cut 1,200 jobs.")  # the pronoun is still a function word
