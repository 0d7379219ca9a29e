"""``index.textproc``: the one tokenizer, stemmer and stopword lists.

The stored BM25 indexes were built with this tokenizer: its output for these texts is pinned
(recorded from ``index/lexical.py``'s tokenizer before it moved here), so a change that would
make old indexes disagree with new queries fails here first.
"""

from __future__ import annotations

import pytest

from index import lexical, textproc
from index.textproc import BM25_STOPWORDS, FUNCTION_STEMS, FUNCTION_WORDS, stem, tokenize, words

#: (text, its index terms) as ``index/lexical.py`` tokenized them when the indexes were built.
PINNED: list[tuple[str, list[str]]] = [
    (
        "The death toll rose to 286 on Tuesday, officials said.",
        ["death", "toll", "rose", "286", "tuesday", "offici", "said"],
    ),
    (
        "Profits hit $1.13bn, up 12.5% from 1,000,000 a year earlier.",
        ["profit", "hit", "1.13bn", "up", "12.5", "from", "1000000", "year", "earlier"],
    ),
    (
        "Nagorno-Karabakh: O'Brien's team won't say; they didn't.",
        ["nagorno", "karabakh", "o", "brien", "team", "won", "say", "didn"],
    ),
    (
        "Mevlüt Çavuşoğlu met Straße officials in Zürich — 3,4 and 1,2345 are not thousands.",
        ["mevlüt", "çavuşoğlu", "met", "straße", "offici", "zürich", "3,4", "12345", "thousand"],
    ),
    (
        "IT jobs in the US: WHO warns it is THE worst year since the 1990s.",
        ["job", "us", "who", "warn", "worst", "year", "sinc", "1990s"],
    ),
    (
        "Running runners ran quickly; the studies studied were studious.",
        ["run", "runner", "ran", "quick", "studi", "studi", "were", "studious"],
    ),
    (
        "Naïve café résumé: 東京 2020年 Ελλάδα и Москва",
        ["naïv", "café", "résumé", "東京", "2020年", "ελλάδα", "и", "москва"],
    ),
    (
        "x_y snake_case __dunder__ 3_000 co-operate e-mail",
        ["x", "y", "snake", "case", "dunder", "3", "000", "co", "oper", "e", "mail"],
    ),
    ("", []),
    ("   \n\t  ", []),
    (
        "10,000s of people; 1,00 and 12,345,678.9m; 7th and 21st; ½ and ²",
        ["10000s", "peopl", "1,00", "12,345,678.9m", "7th", "21st", "½", "²"],
    ),
    (
        "A will, a way; I'll we'll you'd shouldn't can't it's",
        ["way", "i", "ll", "we", "ll", "you", "d", "shouldn", "can"],
    ),
]


@pytest.mark.parametrize(("text", "terms"), PINNED)
def test_bm25_terms_are_those_the_stored_indexes_were_built_with(text: str, terms: list[str]) -> None:
    assert tokenize(text) == terms


def test_one_tokenizer_for_bm25_and_question_analysis() -> None:
    from retrieval import query

    assert lexical.tokenize is textproc.tokenize
    assert query.tokenize is textproc.tokenize
    assert query.stem is textproc.stem
    assert query.STOPWORDS is FUNCTION_WORDS


def test_bm25_stopwords_are_bm25s_english_list_plus_contraction_leftovers() -> None:
    from bm25s.stopwords import STOPWORDS_EN

    assert frozenset(STOPWORDS_EN) | {"s", "t"} == BM25_STOPWORDS


def test_function_words() -> None:
    # Every BM25 stopword but "will" is a function word of questions too; "will" is a name
    # ("Will Smith"), and BM25 drops it anyway.
    assert {"will"} == BM25_STOPWORDS - FUNCTION_WORDS
    assert {"what", "said", "tell", "whose", "according"} <= FUNCTION_WORDS
    assert stem("according") in FUNCTION_STEMS
    assert "will" not in FUNCTION_WORDS


def test_stem_and_words() -> None:
    assert [stem(w) for w in ("officials", "running", "studies")] == ["offici", "run", "studi"]
    assert words("O’Brien's 1.13bn co-operate, U.S.") == ["o'brien's", "1.13bn", "co-operate", "u.s"]
