"""Plain-text page scrapes: the headline, date, site and byline found; page chrome never indexed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import FIXTURES, shared_path

from index.errors import IngestError
from index.models import Article
from index.sources import parse_plaintext
from index.sources.lines import classify
from index.text import split_sentences

SCRAPES = FIXTURES / "ingest"


def scrape(name: str) -> Article:
    return parse_plaintext((SCRAPES / name).read_text(encoding="utf-8"), name)


def sentences(article: Article) -> list[str]:
    return [article.body[s:e] for s, e in split_sentences(article.body)]


def test_real_scrape_gives_headline_date_site_and_byline_without_chrome() -> None:
    path = shared_path("seeds", "000_b163161e0a909d7f.txt")
    article = parse_plaintext(path.read_text(encoding="utf-8"), str(path))
    assert article.title == "Turkey calls for international community to back Azerbaijan"
    assert article.date is not None and article.date.date().isoformat() == "2023-12-01"
    assert article.source == "Global Village Space"
    assert article.byline == "GVS News Desk"
    assert "Welcome to" not in article.body
    assert "Read more" not in article.body
    assert "GVS News Desk" not in article.body
    assert not article.body.startswith(article.title)
    said = sentences(article)
    assert "Fight till the end" in said  # a subhead is its own unit, not glued to what follows
    assert said[-1].endswith("since a 1994 ceasefire agreement.")


def test_harbor_ledger_nav_bar_byline_with_date_and_footer() -> None:
    article = scrape("harbor_ledger.txt")
    assert article.title == "City council approves new seawall for the old harbour district"
    assert article.source == "The Harbor Ledger"
    assert article.byline == "Maria Okafor and Tom Reyes"
    assert article.date == datetime(2024, 3, 14, 9, 15, tzinfo=UTC)
    for chrome in ("Home", "Skip to content", "Share this", "Facebook", "Advertisement",
                   "Also read", "All rights reserved", "Published"):
        assert chrome not in article.body, chrome
    said = sentences(article)
    assert said[0].startswith("The city council voted 9-2 on Wednesday")
    assert "Residents split over design" in said
    assert said[-1].startswith("Engineers told the council")


def test_prairie_wire_markdown_wrapped_lines_bullets_and_trailing_credit() -> None:
    article = scrape("prairie_wire.md")
    assert article.title == "Wheat growers brace for second dry summer"
    assert article.date == datetime(2024, 3, 3, 16, 5, tzinfo=UTC) + timedelta(hours=6)
    assert article.byline == "Reporting by Jonas Pike; Editing by Ruth Amadi"
    assert article.source is None
    said = sentences(article)
    # a hard-wrapped paragraph is one sentence again, not three fragments
    assert said[0] == (
        "Farmers across the northern plains are planting drought-tolerant wheat varieties after "
        "a winter with less than half the usual snowfall, the state agriculture office said on Friday."
    )
    assert "What farmers are doing" in said
    assert "delaying planting by two weeks" in said
    assert "Related" not in article.body and "Reporting by" not in article.body
    assert "#" not in article.body


def test_coastal_times_date_first_agency_byline_and_shouted_read_more() -> None:
    article = scrape("coastal_times.txt")
    assert article.title == "Fishing fleet returns early as cod quotas run out"
    assert article.source == "Coastal Times"
    assert article.byline == "Ines Calder, Reuters"
    assert article.date == datetime(2024, 11, 5, 18, 40, tzinfo=UTC)
    assert "READ MORE" not in article.body and "Subscribe" not in article.body
    assert "Dr. Karin Holm" in sentences(article)[-1]


def test_valley_post_site_suffix_role_byline_dotted_time_and_footer() -> None:
    article = scrape("valley_post.txt")
    # the "| Valley Post" suffix goes once the footer has named the site
    assert article.title == "Rail line to the valley towns will close for six months of repairs"
    assert article.source == "Valley Post"
    assert article.byline == "Ama Mensah, Senior Correspondent"
    assert article.date == datetime(2023, 12, 6, 12, 1, tzinfo=UTC)
    said = sentences(article)
    assert said[0] == "Commuters face longer journeys as buses replace trains from May"  # the standfirst
    assert said[-1].startswith("A passenger group said the closure")
    for chrome in ("Opinion", "Photo:", "Topics", "Reuse this content", "©", "Last modified"):
        assert chrome not in article.body, chrome


def test_scrape_without_headline_keeps_all_text_and_empty_title() -> None:
    text = (
        "The river rose 2.3 metres overnight, the flood office said.\n\n"
        "Schools in the valley will stay shut on Monday.\n"
    )
    article = parse_plaintext(text, "x.txt")
    assert article.title == ""
    assert sentences(article) == [
        "The river rose 2.3 metres overnight, the flood office said.",
        "Schools in the valley will stay shut on Monday.",
    ]


def test_desk_byline_glued_to_the_last_sentence_is_taken_off() -> None:
    text = (
        "Ferry strike called off after pay deal\n\n"
        "Crews accepted a 6% rise on Monday.\n\n"
        "Sailings resume on Tuesday morning.Harbor News Desk"
    )
    article = parse_plaintext(text, "glued.txt")
    assert article.byline == "Harbor News Desk"
    assert sentences(article)[-1] == "Sailings resume on Tuesday morning."


def test_scrape_with_only_chrome_is_refused() -> None:
    with pytest.raises(IngestError, match="empty body"):
        parse_plaintext("Home | News | Sport\n\nShare this\nAdvertisement\n", "chrome.txt")


def test_key_value_headers_and_front_matter_are_metadata() -> None:
    text = (
        "---\ntitle: Bridge reopens after inspection\ndate: 2024-06-01T08:00:00Z\n"
        "source: Valley Post\nurl: https://valley-post.example/bridge\n---\n\n"
        "The Old Mill bridge reopened on Saturday after a two-week safety inspection.\n"
    )
    article = parse_plaintext(text, "bridge.md")
    assert article.title == "Bridge reopens after inspection"
    assert article.source == "Valley Post"
    assert article.url == "https://valley-post.example/bridge"
    assert article.id == "https://valley-post.example/bridge"
    assert article.date == datetime(2024, 6, 1, 8, tzinfo=UTC)
    assert article.body == "The Old Mill bridge reopened on Saturday after a two-week safety inspection."


@pytest.mark.parametrize(
    "headline",
    ["iTunes now selling charity single", "$1m payoff for former oil boss", "Rivals of the £400 phone...",
     "Is the housing boom over?"],
)
def test_headlines_that_look_unusual_are_still_headlines(headline: str) -> None:
    article = parse_plaintext(f"{headline}\n\nThe story itself starts here and ends here.\n", "h.txt")
    assert article.title == headline
    assert article.body == "The story itself starts here and ends here."


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("| Welcome to Global Village Space", "chrome"),
        ("Home | News | World | Business", "chrome"),
        ("Share this story", "chrome"),
        ("ADVERTISEMENT", "chrome"),
        ("Subscribe to our daily briefing", "chrome"),
        ("Read more: Prices rise again", "link"),
        ("Also read - Mayor resigns", "link"),
        ("Related: Storm hits coast", "link"),
        ("Friday, December 1, 2023", "date"),
        ("2023-12-01", "date"),
        ("Updated 3 hours ago", "date"),
        ("By Jane Doe", "byline"),
        ("Jane Doe, Reuters", "byline"),
        ("Staff Correspondent", "byline"),
        ("GVS News Desk", "byline"),
        ("Last modified on Wed 6 Dec 2023 12.01 GMT", "date"),
        ("Reuse this content", "chrome"),
        ("By Jane Doe | 1 Dec 2023", "meta"),
        # real sentences must never be taken for chrome or bylines
        ("By Tuesday, the council had voted to close the pool.", "content"),
        ("Share prices fell 3% in early trading.", "content"),
        ("Related talks will resume in Geneva next week.", "content"),
        ("Fight till the end", "content"),
        ("Jane Doe, a nurse, said the ward was full.", "content"),
        ("Home prices rose | sharply in March, the survey said.", "content"),
        ("78,000", "content"),  # an attendance figure, not a date
        ("Joel Jutge (France)", "content"),  # a referee and his country, not a byline
    ],
)
def test_line_classification(line: str, kind: str) -> None:
    assert classify(line).kind == kind


@pytest.mark.parametrize(
    ("line", "byline"),
    [
        ("By ANA LIND", "Ana Lind"),
        ("Written by Ama Mensah, Senior Correspondent", "Ama Mensah, Senior Correspondent"),
        ("(Reporting by Jonas Pike)", "Jonas Pike"),
        ("Reporting by Jonas Pike; Editing by Ruth Amadi", "Reporting by Jonas Pike; Editing by Ruth Amadi"),
        ("*By Jane Doe and John Roe*", "Jane Doe and John Roe"),
    ],
)
def test_byline_names(line: str, byline: str) -> None:
    assert classify(line).byline == byline
