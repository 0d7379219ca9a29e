"""Sentence splitting and chunk planning: the units answers are quoted and embedded in."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from index.text import (
    SEPARATOR_TOKENS,
    SPECIAL_TOKENS,
    over_long_sentences,
    plan_chunks,
    split_sentences,
)


def sentences(body: str) -> list[str]:
    return [body[s:e] for s, e in split_sentences(body)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "“To put them on equal footing rewards the occupier,” the minister said. "
            "“The world must be on the right side.” Talks continue.",
            [
                "“To put them on equal footing rewards the occupier,” the minister said.",
                "“The world must be on the right side.”",
                "Talks continue.",
            ],
        ),
        (
            'He said: "We will fight." Then he left.',
            ['He said: "We will fight."', "Then he left."],
        ),
        (
            "“Why?” he asked. “Because,” she said.",
            ["“Why?” he asked.", "“Because,” she said."],
        ),
        (
            "The U.S. economy grew. The U.K. economy shrank.",
            ["The U.S. economy grew.", "The U.K. economy shrank."],
        ),
        ("He moved to the U.S. He liked it.", ["He moved to the U.S.", "He liked it."]),
        (
            "Mr. Smith met Dr. Jones at St. Paul's on Jan. 5. They talked.",
            ["Mr. Smith met Dr. Jones at St. Paul's on Jan. 5.", "They talked."],
        ),
        (
            "J. K. Rowling earned $1.13bn, up 3.5%. Profits hit £7.2m. Done.",
            ["J. K. Rowling earned $1.13bn, up 3.5%.", "Profits hit £7.2m.", "Done."],
        ),
        (
            "Sales fell in Jan. and Feb. but rose in March. Odd.",
            ["Sales fell in Jan. and Feb. but rose in March.", "Odd."],
        ),
        ("It was late... Very late. And then?", ["It was late...", "Very late.", "And then?"]),
        (
            "Gen. Smith and Sen. Jones met at 10 a.m. on Tuesday. Lt. Col. Brown too.",
            ["Gen. Smith and Sen. Jones met at 10 a.m. on Tuesday.", "Lt. Col. Brown too."],
        ),
    ],
)
def test_news_sentences_split_where_a_reader_would(body: str, expected: list[str]) -> None:
    assert sentences(body) == expected


def test_numbered_list_markers_stay_with_their_item() -> None:
    assert sentences("1. First item. 2. Second item.") == ["1. First item.", "2. Second item."]
    assert sentences("Q. What happened? A. Nothing.") == ["Q. What happened?", "A. Nothing."]


def test_every_line_break_ends_a_sentence() -> None:
    body = (
        "Fierce clashes continued on Tuesday\n\n"
        "Fight till the end\n\n"
        "The minister said no truce was possible.\n"
        "A second line without a blank line before it"
    )
    assert sentences(body) == [
        "Fierce clashes continued on Tuesday",
        "Fight till the end",
        "The minister said no truce was possible.",
        "A second line without a blank line before it",
    ]


def test_bullets_are_sentences_without_their_bullet() -> None:
    body = "Key points:\n - prices rose 3%\n - wages fell\n• rents are flat"
    assert sentences(body) == ["Key points:", "prices rose 3%", "wages fell", "rents are flat"]


def test_separator_lines_and_stray_quotes_are_not_sentences() -> None:
    body = "First part ends here.\n* * *\n—\nHe said: “We will win.” ”"
    assert sentences(body) == ["First part ends here.", "He said: “We will win.”"]


def test_a_quote_left_open_does_not_swallow_the_paragraph() -> None:
    # Scrapes often put a closing quote at the start of the next paragraph.
    body = '" But the crowd was quiet. Holah scored early. Rush hit back "soon after." Done.'
    assert sentences(body) == [
        "But the crowd was quiet.",
        "Holah scored early.",
        'Rush hit back "soon after."',
        "Done.",
    ]
    assert sentences("“It was over. We lost,” he said. Fans left. “Sad.") == [
        "“It was over. We lost,” he said.",
        "Fans left.",
        "“Sad.",
    ]


def test_empty_and_blank_bodies_have_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t \r\n") == []


def test_offsets_round_trip_and_never_cross_a_paragraph() -> None:
    body = (
        "  Quarterly profits at TimeWarner jumped 76% to $1.13bn (£600m).  \r\n\r\n"
        "The firm, which is now one of the biggest investors in Google, benefited. "
        "Mr. Parsons said so on Friday.\n\n\n"
        "“It was a good year,” he added.   Shares rose 2.5% in New York.\n"
    )
    spans = split_sentences(body)
    assert len(spans) == 5
    previous_end = 0
    for start, end in spans:
        text = body[start:end]
        assert text == text.strip() and text
        assert "\n" not in text and "\r" not in text
        assert start >= previous_end
        previous_end = end


def test_offsets_in_bodies_with_wide_characters() -> None:
    body = "Café owners 🎉 cheered. 東京 prices rose 2%. Naïve? Yes."
    assert sentences(body) == ["Café owners 🎉 cheered.", "東京 prices rose 2%.", "Naïve?", "Yes."]


# ---------------------------------------------------------------- chunk planning


def check_plan(counts: list[int], max_tokens: int, overlap: int, title: int) -> list[tuple[int, int]]:
    """Assert every invariant callers rely on, and return the plan."""
    plan = plan_chunks(counts, max_tokens, overlap=overlap, title_tokens=title)
    if not counts:
        assert plan == []
        return plan
    covered = set()
    long_ones = set(over_long_sentences(counts, max_tokens, title))
    for first, last in plan:
        assert 0 <= first <= last < len(counts)
        covered.update(range(first, last + 1))
        cost = SPECIAL_TOKENS + title + sum(c + SEPARATOR_TOKENS for c in counts[first : last + 1])
        if first == last and first in long_ones:
            continue
        assert cost <= max_tokens, (first, last, cost)
        assert not long_ones.intersection(range(first, last + 1))
    assert covered == set(range(len(counts)))
    for (a1, b1), (a2, b2) in pairwise(plan):
        assert a1 < a2 and b1 < b2  # in order, and neither is inside the other
        assert a2 <= b1 + 1  # contiguous: no sentence skipped
        assert b1 - a2 + 1 <= overlap  # share at most `overlap` sentences
    return plan


def test_chunks_pack_whole_sentences_with_one_sentence_overlap() -> None:
    # budget for sentences: 50 - 2 special = 48; each 10-token sentence costs 11
    plan = check_plan([10] * 10, max_tokens=50, overlap=1, title=0)
    assert plan == [(0, 3), (3, 6), (6, 9)]


def test_title_tokens_reduce_room_for_sentences() -> None:
    assert check_plan([10] * 6, 50, 0, 0) == [(0, 3), (4, 5)]
    assert check_plan([10] * 6, 50, 0, 15) == [(0, 2), (3, 5)]


def test_over_long_sentence_gets_its_own_chunk_and_is_reported() -> None:
    counts = [10, 10, 10, 300, 10, 10]
    plan = check_plan(counts, 50, 1, 0)
    assert (3, 3) in plan
    assert over_long_sentences(counts, 50) == [3]
    # the overlap is dropped around it rather than exceeding the limit
    assert plan == [(0, 2), (3, 3), (4, 5)]


def test_no_overlap_partitions_the_sentences() -> None:
    plan = check_plan([5, 30, 5, 5, 40, 2, 2], 60, 0, 0)
    assert [i for a, b in plan for i in range(a, b + 1)] == list(range(7))


def test_short_article_is_one_chunk() -> None:
    assert check_plan([12, 8, 20], 256, 1, 10) == [(0, 2)]
    assert check_plan([], 256, 1, 0) == []


def test_overlap_never_makes_a_chunk_without_new_sentences() -> None:
    # With overlap 3 and only two sentences fitting, progress must still be made.
    plan = check_plan([20] * 8, 50, 3, 0)
    assert len(plan) >= 4


def test_invariants_hold_on_random_articles() -> None:
    rng = random.Random(1234)
    for _ in range(500):
        n = rng.randint(0, 40)
        counts = [rng.choice([rng.randint(1, 40), rng.randint(1, 300)]) for _ in range(n)]
        check_plan(counts, rng.choice([32, 64, 128, 256]), rng.randint(0, 3), rng.randint(0, 20))


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_chunks([1, 2], 0)
    with pytest.raises(ValueError):
        plan_chunks([1, 2], 10, overlap=-1)


def test_offsets_stay_valid_on_random_messy_text() -> None:
    rng = random.Random(99)
    pieces = ["Mr.", "U.S.", "said", "“", "”", '"', "'", "...", "…", "3.5%", "\n", "\n\n", " - ",
              "1.", "(a)", "Hello", "world.", "Why?", "Yes!", "—", "🎉", "東京", "\t", "  ", ".", "é"]
    for _ in range(300):
        body = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        previous_end = 0
        for start, end in split_sentences(body):
            text = body[start:end]
            assert 0 <= previous_end <= start < end <= len(body)
            assert text == text.strip() and "\n" not in text
            assert any(ch.isalnum() for ch in text)
            previous_end = end
