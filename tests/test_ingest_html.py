"""HTML pages: main text without page furniture, head metadata, declared charsets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import FIXTURES

from index.errors import IngestError
from index.sources import parse_html
from index.text import split_sentences

PAGE = FIXTURES / "ingest" / "lakeside_courier.html"


def test_saved_page_gives_article_text_and_metadata() -> None:
    article = parse_html(PAGE.read_bytes(), str(PAGE))
    assert article.title == "Ferry service to Pine Island resumes after storm repairs"
    # the canonical link wins over og:url (which carries a tracking parameter)
    assert article.url == "https://lakeside-courier.example/news/2024/04/ferry-resumes"
    assert article.id == article.url
    assert article.date == datetime(2024, 4, 9, 5, 30, tzinfo=UTC)
    assert article.source == "The Lakeside Courier"
    assert article.byline == "Lena Marsh"
    assert article.origin == str(PAGE)
    said = [article.body[s:e] for s, e in split_sentences(article.body)]
    assert said[0].startswith("The ferry between Northport and Pine Island will run again")
    assert "Timetable cut at first" in said
    for chrome in ("Home", "cookies", "Read more", "All rights reserved", article.title):
        assert chrome not in article.body, chrome


def test_declared_windows_1252_charset_is_honoured() -> None:
    data = PAGE.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is not UTF-8
    body = parse_html(data, "page.html").body
    assert "about €1.4m" in body
    assert "María Ortiz" in body
    assert "“We would rather start carefully than stop again,”" in body


def test_utf8_bytes_without_declaration_and_fetched_url_as_fallback() -> None:
    html = (
        "<html><head><title>Zoo welcomes twin pandas</title></head><body><article>"
        "<h1>Zoo welcomes twin pandas</h1>"
        "<p>Keepers at the city zoo said on Sunday that the twin panda cubs born last month are "
        "healthy and gaining weight, and that visitors will be able to see them in early spring.</p>"
        "<p>The cubs’ names will be chosen by a public vote, the zoo’s director told reporters.</p>"
        "</article></body></html>"
    ).encode()
    article = parse_html(html, "fetched", url="https://zoo.example/pandas?utm_source=feed")
    assert article.url == "https://zoo.example/pandas?utm_source=feed"
    assert "The cubs’ names will be chosen" in article.body
    assert article.title == "Zoo welcomes twin pandas"


def test_site_name_is_taken_off_the_page_title() -> None:
    html = (
        "<html><head><title>Night trains return to the coast :: Shoreline Gazette</title>"
        "<meta property='og:site_name' content='Shoreline Gazette'></head><body><article>"
        "<p>Overnight trains between the capital and the coast will run again from June, the rail "
        "operator said on Thursday, after a three-year break caused by a shortage of sleeper cars.</p>"
        "</article></body></html>"
    )
    article = parse_html(html, "page.html")
    assert article.title == "Night trains return to the coast"
    assert article.source == "Shoreline Gazette"


def test_page_without_article_text_is_an_ingest_error() -> None:
    with pytest.raises(IngestError) as info:
        parse_html(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "empty.html")
    assert info.value.origin == "empty.html"
    assert "no extractable article text" in info.value.reason
    with pytest.raises(IngestError, match="empty page"):
        parse_html("   ", "blank.html")
