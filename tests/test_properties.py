"""Property-based tests (issue #9, "Must show"): whatever the input, ingestion indexes it or
skips it with one line, sentence offsets are exact slices, chunk plans cover every sentence
within the token budget, and every bot message fits Telegram and is well-formed HTML.

Deterministic (``derandomize``) and small by default so they run in the fast suite; for a
deeper local search (20 times the examples, a new random seed each run)::

    NEWSBOT_HYPOTHESIS_SCALE=20 NEWSBOT_HYPOTHESIS_RANDOM=1 pytest tests/test_properties.py
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any
from unittest import mock
from xml.sax.saxutils import escape as xml_escape

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot import render
from index.errors import FetchError, IngestError
from index.models import Article, content_hash
from index.settings import IndexSettings
from index.sources import iter_articles, parse_date, parse_html, parse_plaintext, record_to_article
from index.sources.feeds import parse_feed
from index.sources.fetch import Fetcher
from index.sources.html import decode_html
from index.sources.records import BODY_FIELDS, iter_json_document, parse_jsonl_line
from index.text import (
    SEPARATOR_TOKENS,
    chunk_token_budget,
    over_long_sentences,
    plan_chunks,
    split_sentences,
)
from retrieval.models import Answer, AnswerSentence, Passage, PassageSentence, Suggestion

_SCALE = float(os.environ.get("NEWSBOT_HYPOTHESIS_SCALE", "1"))
_RANDOM = bool(os.environ.get("NEWSBOT_HYPOTHESIS_RANDOM"))


def fast(examples: int) -> settings:
    """Modest, deterministic settings for the fast suite (scaled up by the env vars above)."""
    return settings(
        max_examples=max(1, int(examples * _SCALE)),
        deadline=None,
        derandomize=not _RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ============================================================== shared strategies

#: Pieces of news text that exercise the splitter's special cases: abbreviations, list and Q&A
#: markers, bullets, every quote style, paragraph and odd line breaks, word-less runs.
_TOKENS = [
    " ", " ", " ", ". ", "! ", "? ", ".", ",", ";", ":", "…", "Mr. ", "U.S. ", "Jan. ", "3.5", "1. ",
    "(a) ", "ii) ", "Q. ", "A: ", "- ", "• ", "* * *", "—", "–", "\"", "“", "”", "„", "‟", "«", "»",
    "’", "'", "(", ")", "[", "]", "\n", "\n\n", "\r\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c",
    "\x85", "\t", "\u00a0", "\u3000", "\x1c", "<p>", "&amp;", "&#163;", "&", "<", ">", "😀", "é",
    "e\u0301", "ﬁ", "İ", "ß", "٣", "中文。", "Σ", "The council met", "Budget passes", "Smith",
    "said", "on Tuesday", "2024", "By Jane Doe", "Read more: x",
]
_WORDISH_ALPHABET = st.characters(
    codec="utf-8", categories=["L", "N", "P", "Zs", "S", "Cc", "M"],
)
news_text = st.lists(
    st.one_of(st.sampled_from(_TOKENS), st.text(_WORDISH_ALPHABET, min_size=1, max_size=6)),
    max_size=40,
).map("".join)
#: Dense in what the splitter's repairs handle: quote marks, list markers, abbreviations, odd spaces.
_DENSE = ["a", "B", "I", "1", " ", ".", "!", "?", '"', "“", "”", "„", "«", "»", "’", "'", "(", ")", "-", "•",
          "Mr.", "Q.", "1.", "(a)", "ii)", "…", "\u00a0", "\u2009", "\u3000", "\x85", "—", ";", ":", "\n"]
dense_text = st.lists(st.sampled_from(_DENSE), min_size=1, max_size=30).map("".join)
any_text = st.one_of(news_text, dense_text, st.text(max_size=200))

_LINE_BREAK_CHARS = "\r\n\u2028\u2029\x0b\x0c\x85"
_WORD = re.compile(r"\w")


def one_line(err: IngestError) -> str:
    """``str(err)``, asserted to be exactly one line."""
    text = str(err)
    assert text.strip(), "empty error"
    assert len(text.splitlines()) == 1, f"error is not one line: {text!r}"
    assert err.one_line().startswith(err.kind)
    return text


def check_article(article: Article) -> None:
    """What every ingested article must satisfy to be indexed and quoted."""
    assert isinstance(article, Article)
    assert article.id.strip()
    assert article.body.strip(), "empty body"
    assert "\x00" not in article.body
    for value in (article.id, article.title, article.body, article.url or "", article.source or "",
                  article.byline or ""):
        value.encode("utf-8")  # no lone surrogates: the store writes UTF-8
    assert article.date is None or article.date.tzinfo is not None
    content_hash(article.body)
    check_spans(article.body, split_sentences(article.body))


def check_spans(body: str, spans: list[tuple[int, int]]) -> None:
    """``split_sentences``'s promises (see index/text.py)."""
    prev_end = 0
    covered = [False] * len(body)
    for start, end in spans:
        assert isinstance(start, int) and isinstance(end, int)
        assert prev_end <= start < end <= len(body), f"span {(start, end)} after {prev_end} in {body!r}"
        sentence = body[start:end]
        assert sentence == sentence.strip(), f"unstripped sentence {sentence!r}"
        assert _WORD.search(sentence), f"word-less sentence {sentence!r}"
        assert not any(c in sentence for c in _LINE_BREAK_CHARS), f"sentence across a line break {sentence!r}"
        for i in range(start, end):
            covered[i] = True
        prev_end = end
    lost = [c for c, seen in zip(body, covered, strict=True) if not seen and _WORD.match(c)]
    assert not lost, f"word characters {lost!r} of {body!r} are in no sentence"


# ============================================================== sentences and offsets


@fast(400)
@example("„1.'r'“")  # a ' opening the next sentence was also appended to the previous one
@example("Plan B\u00a0. Next one.")  # sentencex panicked (a BaseException) on a capital, NBSP, "."
@given(any_text)
def test_sentences_are_ordered_stripped_slices_of_the_body(body: str) -> None:
    spans = split_sentences(body)
    check_spans(body, spans)
    assert split_sentences(body) == spans  # pure


@fast(100)
@given(st.lists(news_text, min_size=1, max_size=5))
def test_line_breaks_always_end_sentences(lines: list[str]) -> None:
    """A sentence found in one line is found, shifted, when other lines are put around it."""
    lines = [ln for ln in (" ".join(x.split()) for x in lines) if ln]
    assume(lines)
    body = "\n\n".join(lines)
    spans = split_sentences(body)
    check_spans(body, spans)
    offset = 0
    expected: list[tuple[int, int]] = []
    for line in lines:
        expected.extend((offset + s, offset + e) for s, e in split_sentences(line))
        offset += len(line) + 2
    assert spans == expected


# ============================================================== chunk planning

chunk_args = st.tuples(
    st.lists(st.integers(min_value=0, max_value=600), max_size=60),
    st.integers(min_value=1, max_value=600),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=0, max_value=80),
)


@fast(300)
@given(chunk_args)
def test_chunks_cover_every_sentence_within_the_budget(args: tuple[list[int], int, int, int]) -> None:
    counts, max_tokens, overlap, title_tokens = args
    chunks = plan_chunks(counts, max_tokens, overlap=overlap, title_tokens=title_tokens)
    n = len(counts)
    if n == 0:
        assert chunks == []
        return
    budget = chunk_token_budget(max_tokens, title_tokens)

    def cost(a: int, b: int) -> int:
        return sum(counts[a : b + 1]) + SEPARATOR_TOKENS * (b - a + 1)

    assert chunks[0][0] == 0 and chunks[-1][1] == n - 1
    for first, last in chunks:
        assert 0 <= first <= last < n
        assert first == last or cost(first, last) <= budget, "a multi-sentence chunk over the budget"
        if last + 1 < n:
            assert cost(first, last + 1) > budget, "chunk stopped although the next sentence fits"
    for (f1, l1), (f2, l2) in pairwise(chunks):
        assert f1 < f2 and l1 < l2, "a chunk is a subset of its neighbour"
        assert f2 <= l1 + 1, "a sentence in no chunk"
        assert l1 - f2 + 1 <= overlap, "more overlap than asked for"
    over = set(over_long_sentences(counts, max_tokens, title_tokens))
    for i in over:
        assert all((first, last) == (i, i) for first, last in chunks if first <= i <= last)


@fast(20)
@given(st.lists(st.integers(0, 50), max_size=5), st.integers(-5, 0), st.integers(-5, -1))
def test_chunk_planning_rejects_bad_limits(counts: list[int], max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        plan_chunks(counts, max_tokens)
    with pytest.raises(ValueError):
        plan_chunks(counts, 100, overlap=overlap)


# ============================================================== ingest helpers


@contextmanager
def offline() -> Iterator[None]:
    """Feed item pages are never fetched in these tests: every GET fails as a fetch error."""

    def refuse(self: Fetcher, url: str, **kwargs: Any) -> Any:
        raise FetchError(url, "offline (property test)")

    with mock.patch.object(Fetcher, "get", refuse):
        yield


def ingest_file(
    name: str, data: bytes, item_links: frozenset[str] = frozenset()
) -> tuple[str, list[Article], list[IngestError]]:
    """``iter_articles`` over one file holding ``data``; checks the one-line contract."""
    with tempfile.TemporaryDirectory() as tmp, offline():
        path = Path(tmp) / name
        path.write_bytes(data)
        articles: list[Article] = []
        errors: list[IngestError] = []
        for item in iter_articles([str(path)], IndexSettings(max_file_bytes=1_000_000)):
            if isinstance(item, IngestError):
                one_line(item)
                errors.append(item)
            else:
                check_article(item)
                articles.append(item)
        assert articles or errors, "an input that yields nothing at all"
        for err in errors:
            # a feed item's line names the item's link (the page that was not used)
            assert str(path) in str(err) or err.origin in item_links, str(err)
        return str(path), articles, errors


_SUFFIXES = [".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson", ".xml", ".rss",
             ".atom"]
_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"]


@st.composite
def encoded_text(draw: st.DrawFn, text: st.SearchStrategy[str] = any_text) -> bytes:
    value = draw(text)
    return value.encode(draw(st.sampled_from(_ENCODINGS)), errors="replace")


raw_bytes = st.one_of(
    st.binary(max_size=600),
    encoded_text(),
    st.builds(lambda a, b: a + b, encoded_text(), st.binary(max_size=20)),
)


# ============================================================== ingest: arbitrary files


@fast(150)
@given(st.sampled_from(_SUFFIXES), raw_bytes)
def test_any_file_is_indexed_or_skipped_with_one_line(suffix: str, data: bytes) -> None:
    ingest_file("input" + suffix, data)


# ============================================================== ingest: JSON records

_KNOWN_FIELDS = sorted({
    "id", "guid", "uuid", "title", "headline", "name", "body", "text", "content", "article",
    "article_body", "articleBody", "full_text", "context", "passage", "story", "description",
    "summary", "date", "published", "publishedAt", "pubDate", "datePublished", "created_at", "url",
    "link", "canonical_url", "source", "site", "publisher", "author", "byline", "authors", "creator",
    "articles", "items", "data",
})
_DATE_STRINGS = [
    "2023-12-01", "2023-12-01T10:00:00Z", "Fri, 01 Dec 2023 10:00:00 +0000", "Friday, December 1, 2023",
    "Published: 14 March 2024, 09:15 GMT", "04.01.2024", "31/12/2023", "0000-00-00", "2023-02-30",
    "9999-12-31T23:59:59+14:00", "1 Jan 10000", "12.01 2023", "Updated 3 hours ago", "-1", "1e309",
    "2023-12-01T10:00:00+25:00", "Mon, 32 Foo 2023", "2023 at noon", "T2023",
]
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.sampled_from(_DATE_STRINGS),
    any_text,
    st.sampled_from(["http://example.com/a", "https://", "https://x.test/a b", "javascript:alert(1)",
                     "\ud800", "half \ud83d emoji", "<p>One.</p><p>Two &amp; three.</p>", "&#xD83D;",
                     "<script>x</script>", "<p><script>x</script></p>", "\x00", " \n "]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_KNOWN_FIELDS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)
json_record = st.dictionaries(
    st.one_of(st.sampled_from(_KNOWN_FIELDS), st.text(max_size=8)), json_value, max_size=8,
)


@fast(300)
@given(st.one_of(json_record, json_value))
def test_a_json_record_is_an_article_or_one_line(record: Any) -> None:
    try:
        article = record_to_article(record, "dump.json", 7)
    except IngestError as err:
        assert one_line(err).startswith("dump.json:7: ")
        return
    check_article(article)
    assert article.origin == "dump.json:7"


@fast(150)
@given(
    st.lists(st.one_of(json_record, json_value), max_size=5),
    st.sampled_from(["list", "container", "single", "jsonl", "jsonl-as-json"]),
)
def test_json_documents_are_indexed_or_skipped_with_one_line(records: list[Any], layout: str) -> None:
    if layout == "list":
        name, data = "dump.json", json.dumps(records)
    elif layout == "container":
        name, data = "dump.json", json.dumps({"articles": records, "title": "Feed dump"})
    elif layout == "single":
        name, data = "dump.json", json.dumps(records[0] if records else {})
    else:
        name = "dump.jsonl" if layout == "jsonl" else "dump.json"
        data = "\n".join(json.dumps(r) for r in records)
    ingest_file(name, data.encode())


@fast(60)
@given(st.sampled_from(["", "-"]), st.integers(min_value=4301, max_value=6000))
def test_json_numbers_too_long_to_read_are_one_line(prefix: str, digits: int) -> None:
    line = '{"body": "Text.", "date": ' + prefix + "1" * digits + "}"
    with pytest.raises(IngestError) as raised:
        parse_jsonl_line(line, "dump.jsonl", 3)
    assert one_line(raised.value).startswith("dump.jsonl:3: invalid JSON")
    (err,) = list(iter_json_document(line, "dump.json"))
    assert isinstance(err, IngestError) and one_line(err).startswith("dump.json")


@fast(100)
@given(
    st.sampled_from(BODY_FIELDS),
    news_text.filter(lambda t: _WORD.search(t) is not None and "<" not in t and "&" not in t),
)
def test_a_plain_body_is_kept_as_given(field: str, body: str) -> None:
    article = record_to_article({field: body, "title": "T"}, "dump.json")
    check_article(article)
    assert article.body == body.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()


@fast(200)
@given(st.one_of(json_scalar, st.datetimes(), st.dates(),
                 st.integers(min_value=-(10**400), max_value=10**400)))
def test_dates_are_aware_or_none(value: Any) -> None:
    parsed = parse_date(value)
    assert parsed is None or parsed.tzinfo is not None


# ============================================================== ingest: HTML

_CHARSETS = ["utf-8", "UTF8", "iso-8859-1", "latin-1", "windows-1252", "ascii", "utf-16", "utf-7",
             "shift_jis", "koi8-r", "nonsense", "rot13", "hex", "base64", "zlib", "uu", "idna",
             "punycode", "quopri", "x-user-defined", "utf-32"]
_TAGS = ["p", "div", "span", "a", "h1", "h2", "article", "main", "section", "script", "style", "br",
         "li", "ul", "table", "tr", "td", "header", "footer", "nav", "aside", "figure", "blockquote",
         "time", "b", "i", "pre", "noscript", "svg", "math", "template", "iframe"]
html_text = st.one_of(
    news_text.map(lambda t: xml_escape(t)),
    st.sampled_from(["&nbsp;", "&#xD83D;", "&#0;", "&#1114112;", "&bogus;", "<!-- c -->", "<![CDATA[x]]>",
                     "</p>", "<p", "<", "&", "\x00", "\ufeff", "By Jane Doe", "Published: 1 Dec 2023",
                     "Share this", "Advertisement"]),
    st.text(max_size=30),
)


@st.composite
def html_element(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    tag = draw(st.sampled_from(_TAGS))
    attrs = draw(st.sampled_from(["", ' class="article-body"', ' id="content"', ' itemprop="articleBody"',
                                  ' href="javascript:x"', ' lang="en"', " hidden", ' style="display:none"']))
    inner = "".join(draw(st.lists(children, max_size=4)))
    return f"<{tag}{attrs}>{inner}</{tag}>" if draw(st.booleans()) else f"<{tag}{attrs}>{inner}"


html_body = st.recursive(html_text, lambda inner: html_element(inner), max_leaves=25)


@st.composite
def html_page(draw: st.DrawFn) -> bytes:
    head: list[str] = []
    charset = draw(st.one_of(st.none(), st.sampled_from(_CHARSETS)))
    if charset:
        head.append(draw(st.sampled_from([
            f'<meta charset="{charset}">',
            f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">',
        ])))
    if draw(st.booleans()):
        head.append(f"<title>{xml_escape(draw(news_text))}</title>")
    if draw(st.booleans()):
        href = draw(st.sampled_from(["https://news.test/a", "/rel/path", "//other.test/x", "javascript:x",
                                     "http://[::1", "https://a b", "", "mailto:x@y"]))
        rel = draw(st.sampled_from(["canonical", "CANONICAL alternate", "x"]))
        head.append(f'<link rel="{rel}" href="{href}">')
    if draw(st.booleans()):
        when = draw(st.one_of(st.sampled_from(_DATE_STRINGS), st.text(max_size=20)))
        head.append(f'<meta property="article:published_time" content="{xml_escape(when)}">')
    paragraphs = draw(st.lists(
        news_text.filter(lambda t: _WORD.search(t) is not None).map(lambda t: f"<p>{xml_escape(t)}</p>"),
        max_size=6,
    ))
    body = "".join(draw(st.lists(html_body, max_size=4)))
    doc = (draw(st.sampled_from(["", "<!DOCTYPE html>", '<?xml version="1.0" encoding="utf-8"?>', "\ufeff"]))
           + f"<html><head>{''.join(head)}</head>"
           + f"<body><article>{''.join(paragraphs)}</article>{body}</body></html>")
    encoding = draw(st.sampled_from(["utf-8", "cp1252", "utf-16", charset or "utf-8"]))
    try:
        return doc.encode(encoding, errors="replace")
    except (LookupError, UnicodeError):
        return doc.encode("utf-8", errors="replace")


@fast(80)
@given(st.one_of(html_page(), raw_bytes))
def test_any_html_page_is_an_article_or_one_line(data: bytes) -> None:
    try:
        article = parse_html(data, "page.html")
    except IngestError as err:
        assert one_line(err).startswith("page.html: ")
        return
    check_article(article)
    assert article.url is None or article.url.startswith(("http://", "https://"))


@fast(100)
@given(st.sampled_from(_CHARSETS), st.sampled_from(["meta", "http-equiv"]), st.binary(max_size=60))
def test_any_declared_charset_decodes(charset: str, how: str, tail: bytes) -> None:
    head = (f'<meta charset="{charset}">' if how == "meta"
            else f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">')
    text = decode_html(head.encode() + b"<p>Caf\xe9 \xff" + tail + b"</p>")
    assert isinstance(text, str)


@fast(40)
@given(st.sampled_from([".html", ".htm", ".txt", ".md"]), html_page())
def test_html_files_are_indexed_or_skipped_with_one_line(suffix: str, data: bytes) -> None:
    ingest_file("page" + suffix, data)


# ============================================================== ingest: plain-text scrapes

_SCRAPE_LINES = [
    "| Welcome to The Lakeside Courier", "Home | News | Sport", "Share this", "Advertisement",
    "Read more: Ferry resumes service", "Published: 1 Dec 2023", "By Jane Doe", "By JANE DOE | 1 Dec 2023",
    "GVS News Desk", "Jane Doe, Reuters", "© 2024 Lakeside Courier. All rights reserved.",
    "Title: A headline",
    "Date: 2023-12-01", "URL: https://news.test/a", "Source: https://news.test", "---", "* * *", "# Heading",
    "> quoted", "*By Jane*", "- a bullet item", "1. first item", "Council approves new budget",
    "The council approved the budget on Tuesday.", "Spending will rise by 4%.", "WORLD", "",
    "It said the deal was done.GVS News Desk", "Ferry resumes | The Lakeside Courier", "Related stories",
]
scrape = st.lists(st.one_of(st.sampled_from(_SCRAPE_LINES), news_text), max_size=20).map("\n".join)


@fast(200)
@given(st.one_of(scrape, any_text))
def test_any_scrape_is_an_article_or_one_line(text: str) -> None:
    try:
        article = parse_plaintext(text, "scrape.txt")
    except IngestError as err:
        assert one_line(err).startswith("scrape.txt: ")
        return
    check_article(article)


# ============================================================== ingest: RSS and Atom feeds

_FEED_DATES = ["Fri, 01 Dec 2023 10:00:00 +0000", "2023-12-01T10:00:00Z", "Mon, 32 Foo 2023", "yesterday",
               "Tue, 10 Jun 3003 04:00:00 GMT", "0", "", "Sat, 01 Jan 0001 00:00:00 GMT"]
feed_text = st.one_of(
    news_text,
    st.sampled_from(["<p>One.</p><p>Two &amp; three.</p>", "&#xD83D; half", "&#55357;", "<script>x</script>",
                     "<![CDATA[<b>Bold</b> text]]>", "&nbsp;", "]]>", "\x0b", "\ud800"]),
)


@st.composite
def feed_item(draw: st.DrawFn, index: int) -> dict[str, Any]:
    return {
        "title": draw(feed_text),
        "text": draw(feed_text),
        "guid": f"item-{index}",
        "link": draw(st.one_of(st.none(), st.sampled_from([f"https://news.test/{index}", f"/rel/{index}",
                                                           f"javascript:alert({index})"]))),
        "date": draw(st.one_of(st.none(), st.sampled_from(_FEED_DATES))),
        "cdata": draw(st.booleans()),
    }


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    """Text as XML character data (surrogates as references, like a careless feed writer)."""
    return "".join(f"&#{ord(c)};" if 0xD800 <= ord(c) <= 0xDFFF else c for c in xml_escape(_xml_chars(text)))


def _xml_chars(text: str) -> str:
    """Characters XML 1.0 cannot hold at all, dropped (a feed with them is malformed XML)."""
    return _XML_INVALID.sub("", text)


def feed_document(kind: str, title: str, items: list[dict[str, Any]]) -> str:
    def body(item: dict[str, Any]) -> str:
        text = item["text"]
        cdata = item["cdata"] and "]]>" not in text and not re.search("[\ud800-\udfff]", text)
        return f"<![CDATA[{_xml_chars(text)}]]>" if cdata else _x(text)

    parts = []
    for item in items:
        link = item["link"]
        if kind == "atom":
            parts.append(
                "<entry>" + f"<title>{_x(item['title'])}</title><id>{item['guid']}</id>"
                + (f'<link href="{_x(link)}"/>' if link else "")
                + (f"<updated>{item['date']}</updated>" if item["date"] is not None else "")
                + f'<content type="html">{body(item)}</content></entry>'
            )
        else:
            parts.append(
                "<item>" + f"<title>{_x(item['title'])}</title>"
                + f'<guid isPermaLink="false">{item["guid"]}</guid>'
                + (f"<link>{_x(link)}</link>" if link else "")
                + (f"<pubDate>{item['date']}</pubDate>" if item["date"] is not None else "")
                + f"<description>{body(item)}</description></item>"
            )
    head = '<?xml version="1.0" encoding="utf-8"?>'
    if kind == "atom":
        return (f'{head}<feed xmlns="http://www.w3.org/2005/Atom"><title>{_x(title)}</title>'
                f"<id>urn:feed</id>{''.join(parts)}</feed>")
    if kind == "rss1":
        return (f'{head}<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                f'xmlns="http://purl.org/rss/1.0/"><channel><title>{_x(title)}</title></channel>'
                f"{''.join(parts)}</rdf:RDF>")
    return f'{head}<rss version="2.0"><channel><title>{_x(title)}</title>{"".join(parts)}</channel></rss>'


@st.composite
def feed(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    n = draw(st.integers(min_value=0, max_value=5))
    items = [draw(feed_item(i)) for i in range(n)]
    return feed_document(draw(st.sampled_from(["rss2", "rss1", "atom"])), draw(feed_text), items), items


@fast(60)
@given(feed(), st.sampled_from([".xml", ".rss", ".atom"]))
def test_feed_files_are_indexed_or_skipped_with_one_line(
    doc: tuple[str, list[dict[str, Any]]], suffix: str
) -> None:
    text, items = doc
    links = frozenset(it["link"] for it in items if it["link"])
    _, articles, errors = ingest_file("feed" + suffix, text.encode("utf-8", errors="surrogatepass"), links)
    assert len(articles) <= len(items)
    with_text = [it for it in items if _WORD.search(_xml_chars(it["text"]))]
    if not items:
        return
    assert len(articles) >= 0 and all(a.body.strip() for a in articles)
    # every item that carries readable words in its summary is indexed from the feed itself
    plain = [it for it in with_text if not re.search(r"[<&\]\\\x0b]|script", it["text"])]
    assert len(articles) >= len(plain), (len(articles), plain, [str(e) for e in errors])


@fast(120)
@given(st.one_of(feed().map(lambda d: d[0].encode("utf-8", errors="surrogatepass")), raw_bytes))
def test_parse_feed_returns_a_feed_or_one_line(data: bytes) -> None:
    try:
        parsed = parse_feed(data, "feed.xml")
    except IngestError as err:
        assert one_line(err).startswith("feed.xml: ")
        return
    for item in parsed.items:
        assert item.key
        item.title.encode("utf-8")
        item.text.encode("utf-8")


# ============================================================== bot rendering

#: The tags Telegram's HTML parse mode accepts, and the named entities it knows.
_TG_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
            "span", "blockquote"}
_TG_ENTITIES = {"lt", "gt", "amp", "quot"}
_HTML_TOKEN = re.compile(
    r'<(?P<close>/?)(?P<tag>[a-z][a-z-]*)(?P<attrs>(?:\s+[a-z-]+="[^"<>]*")*)>'
    r"|&(?:(?P<name>[A-Za-z]+)|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});|(?P<bad>[<>&])"
)
_ATTR = re.compile(r'\s+([a-z-]+)="([^"<>]*)"')


def assert_telegram_html(message: str) -> None:
    """``message`` fits one Telegram message and parses as Telegram HTML."""
    assert message.strip(), "empty message"
    assert render.tg_len(message) <= render.MAX_MESSAGE, f"message of {render.tg_len(message)} UTF-16 units"
    stack: list[str] = []
    for m in _HTML_TOKEN.finditer(message):
        near = message[max(0, m.start() - 40) : m.start() + 40]
        assert m.group("bad") is None, f"raw {m.group('bad')!r} at {m.start()} in {near!r}"
        if m.group("name") is not None:
            assert m.group("name") in _TG_ENTITIES, f"unknown entity {m.group()!r}"
            continue
        tag = m.group("tag")
        if tag is None:
            continue
        assert tag in _TG_TAGS, f"tag <{tag}> not allowed"
        if m.group("close"):
            assert stack and stack.pop() == tag, f"</{tag}> closes nothing"
            continue
        for attr, value in _ATTR.findall(m.group("attrs")):
            assert (tag, attr) == ("a", "href"), f"attribute {attr} on <{tag}>"
            assert value.startswith(("http://", "https://")), f"href {value!r}"
            for ent in re.finditer(r"&([^;]*);?", value):
                assert ent.group(0).endswith(";"), f"raw & in href {value!r}"
        stack.append(tag)
    assert not stack, f"unclosed {stack}"


def plain_text(messages: list[str]) -> str:
    """The visible text of messages, whitespace removed (to check nothing is lost)."""
    import html

    joined = "".join(re.sub(r"<[^>]+>", "", m) for m in messages)
    return "".join(html.unescape(joined).split())


_RENDER_ALPHABET = st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"])
short_text = st.one_of(
    st.text(_RENDER_ALPHABET, max_size=60),
    st.sampled_from(["<b>x</b>", "AT&T", "a < b > c", '"quoted" \'single\'', "😀😀", "&amp;", "</a>", ""]),
)
#: Sentences up to ~3 messages long; some without spaces, some full of characters that escape long.
long_text = st.builds(
    lambda unit, n: (unit * n)[:12_000],
    st.one_of(st.text(_RENDER_ALPHABET, min_size=1, max_size=12),
              st.sampled_from(["& ", "<>", "😀", "word ", "\"'", "a&b<c>d ", "x" * 50])),
    st.integers(min_value=1, max_value=3000),
)
sentence_text = st.one_of(short_text, long_text, news_text)
urls = st.one_of(st.none(), st.sampled_from([
    "https://news.test/a?x=1&y=2", "http://news.test/\"quoted\"", "javascript:alert(1)", "data:text/html,x",
    "https://", "http://[::1", "https://news.test/<b>", "  https://news.test/spaces  ", "ftp://x.test/",
]))
#: Links no real article has, but a dump can: a 5,000-character URL.
any_urls = st.one_of(urls, st.just("https://news.test/" + "p" * 5000))
dates = st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)),
                  st.just(datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=-5)))))


def answer_sentences(
    titles: st.SearchStrategy[str], links: st.SearchStrategy[str | None] = urls
) -> st.SearchStrategy[list[AnswerSentence]]:
    sentence = st.builds(
        AnswerSentence,
        text=sentence_text,
        article_id=st.sampled_from(["a1", "a2", "a3", "a4"]),
        title=titles,
        source=st.one_of(st.none(), short_text),
        date=dates,
        url=links,
        score=st.just(0.0),
        sentence_id=st.integers(0, 10**6),
        start=st.just(0),
        end=st.just(0),
        position=st.integers(0, 100),
    )
    return st.lists(sentence, max_size=5)


ordinary_titles = st.one_of(short_text, news_text)
any_titles = st.one_of(ordinary_titles, long_text)


def _answer(sentences: list[AnswerSentence], alternatives: list[AnswerSentence], answered: bool) -> Answer:
    return Answer(question="q?", answered=answered, confidence=0.5, sentences=sentences,
                  alternatives=alternatives)


def check_rendered(messages: list[str], sentences: list[AnswerSentence]) -> None:
    assert messages, "no message"
    for message in messages:
        assert_telegram_html(message)
    shown = plain_text(messages)
    for s in sentences:
        assert "".join(s.text.split()) in shown, "a sentence was lost or cut"


@fast(120)
@given(answer_sentences(ordinary_titles), answer_sentences(ordinary_titles), st.integers(0, 5))
def test_answers_fit_telegram_and_are_well_formed(
    sentences: list[AnswerSentence], alternatives: list[AnswerSentence], more: int
) -> None:
    answer = _answer(sentences, alternatives, answered=bool(sentences))
    base = render.render_answer(answer)
    for message in base:
        assert_telegram_html(message)
    if sentences:
        check_rendered(base, sentences)
    messages, shown = render.render_more(answer, more)
    assert 0 <= shown <= min(more, len(alternatives))
    for message in messages:
        assert_telegram_html(message)
    assert len(messages) == len(base)
    if sentences:
        check_rendered(messages, [*sentences, *alternatives[:shown]])


def _sentence(text: str, position: int, article_id: str = "a1") -> AnswerSentence:
    return AnswerSentence(text=text, article_id=article_id, title="T", score=0.0, sentence_id=position,
                          start=0, end=len(text), position=position)


@fast(60)
@example(sentences=[_sentence("x" * 4080, 0)], alternatives=[_sentence("Alt.", 1)], more=1)
@given(answer_sentences(ordinary_titles).filter(bool), answer_sentences(ordinary_titles), st.integers(1, 5))
def test_more_changes_only_the_last_message(
    sentences: list[AnswerSentence], alternatives: list[AnswerSentence], more: int
) -> None:
    answer = _answer(sentences, alternatives, answered=True)
    base = render.render_answer(answer)
    messages, _ = render.render_more(answer, more)
    assert messages[:-1] == base[:-1], "'More' changed an earlier message than the last"


@fast(60)
@given(answer_sentences(any_titles, any_urls))
def test_answers_with_any_title_fit_telegram(sentences: list[AnswerSentence]) -> None:
    check_rendered(render.render_answer(_answer(sentences, [], answered=bool(sentences))), sentences)


@fast(80)
@given(
    st.lists(st.one_of(short_text, news_text), max_size=3),
    st.lists(st.builds(Suggestion, article_id=st.just("a"), title=ordinary_titles,
                       source=st.one_of(st.none(), short_text), date=dates, url=urls, score=st.just(0.0)),
             max_size=6),
)
def test_i_dont_know_fits_telegram_and_is_well_formed(
    notes: list[str], suggestions: list[Suggestion]
) -> None:
    answer = Answer(question="q?", answered=False, confidence=0.1, notes=notes, suggestions=suggestions)
    for message in render.render_answer(answer):
        assert_telegram_html(message)


@fast(60)
@given(
    st.lists(st.one_of(short_text, long_text), max_size=3),
    st.lists(st.builds(Suggestion, article_id=st.just("a"), title=any_titles,
                       source=st.one_of(st.none(), short_text, long_text), date=dates, url=any_urls,
                       score=st.just(0.0)), max_size=4),
)
def test_i_dont_know_with_any_note_or_title_is_well_formed(
    notes: list[str], suggestions: list[Suggestion]
) -> None:
    answer = Answer(question="q?", answered=False, confidence=0.1, notes=notes, suggestions=suggestions)
    for message in render.render_answer(answer):
        assert_telegram_html(message)


def passages(titles: st.SearchStrategy[str]) -> st.SearchStrategy[Passage]:
    @st.composite
    def build(draw: st.DrawFn) -> Passage:
        texts = draw(st.lists(sentence_text, min_size=1, max_size=7))
        cited = draw(st.integers(0, len(texts) - 1))
        return Passage(
            article_id="a1", title=draw(titles), source=draw(st.one_of(st.none(), short_text)),
            date=draw(dates), url=draw(urls),
            sentences=[PassageSentence(sentence_id=i, position=i, start=0, end=0, text=t, cited=i == cited)
                       for i, t in enumerate(texts)],
        )

    return build()


@fast(100)
@given(passages(ordinary_titles))
def test_source_passages_fit_telegram_and_are_well_formed(passage: Passage) -> None:
    text = render.render_passage(passage)
    assert_telegram_html(text)


@fast(100)
@given(st.lists(sentence_text, max_size=8), st.integers(min_value=20, max_value=render.MAX_MESSAGE))
def test_pack_and_split_text_keep_every_word_within_the_limit(texts: list[str], max_len: int) -> None:
    units: list[str] = []
    for text in texts:
        pieces = render.split_text(" ".join(text.split()), max_len)
        assert "".join(pieces).replace(" ", "") == "".join(text.split())
        units.extend(render.esc(p) for p in pieces)
    messages = render.pack(units, max_len)
    assert all(render.tg_len(m) <= max_len for m in messages)
    assert plain_text(messages) == plain_text(units)


@fast(60)
@given(st.lists(st.builds(Suggestion, article_id=st.just("a"), title=ordinary_titles,
                          source=st.one_of(st.none(), short_text), date=dates,
                          url=urls.filter(lambda u: u is None or len(u) < 1000), score=st.just(0.0)),
                max_size=40))
def test_latest_fits_telegram_and_is_well_formed(articles: list[Any]) -> None:
    for message in render.render_latest(articles):
        assert_telegram_html(message)


@fast(60)
@given(passages(any_titles))
def test_source_passages_with_any_title_fit_telegram(passage: Passage) -> None:
    assert_telegram_html(render.render_passage(passage))


@fast(40)
@given(st.lists(st.builds(Suggestion, article_id=st.just("a"), title=any_titles,
                          source=st.one_of(st.none(), short_text, long_text), date=dates, url=any_urls,
                          score=st.just(0.0)), max_size=12))
def test_latest_with_any_title_fits_telegram(articles: list[Any]) -> None:
    for message in render.render_latest(articles):
        assert_telegram_html(message)


# ============================================================== regressions (found by the properties)


@pytest.mark.parametrize("body", ["„1.'r'“", '"-r.’\'a"«', "„B;.'1'“", "He said „no.'Fine' then“ and left."])
def test_a_quote_mark_opening_a_sentence_is_not_also_in_the_one_before(body: str) -> None:
    check_spans(body, split_sentences(body))


@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u202f", "\u3000", " \u00a0"])
def test_a_capital_and_a_wide_space_before_a_full_stop_do_not_stop_the_build(space: str) -> None:
    body = f"We need a plan B{space}. The council agreed on Tuesday."
    spans = split_sentences(body)
    check_spans(body, spans)
    assert body[spans[-1][0] : spans[-1][1]] == "The council agreed on Tuesday."
    _, articles, errors = ingest_file("scrape.txt", f"Council backs plan\n\n{body}\n".encode())
    assert not errors and len(articles) == 1


def test_a_jsonl_file_of_only_a_bom_is_one_line() -> None:
    for data in (b"\xef\xbb\xbf", b"\xef\xbb\xbf \n\t\n", " \u2028\n".encode("utf-16")):
        _, articles, errors = ingest_file("news.jsonl", data)
        assert not articles and [e.reason for e in errors] == ["empty file"], data


def test_a_json_integer_past_pythons_digit_limit_is_one_line() -> None:
    big = "9" * 5000
    data = f'{{"body": "Kept."}}\n{{"body": "x", "id": {big}}}\n'.encode()
    _, articles, errors = ingest_file("news.jsonl", data)
    assert [a.body for a in articles] == ["Kept."]
    assert [(e.line, e.reason) for e in errors] == [(2, "invalid JSON (a number with too many digits)")]
    _, articles, errors = ingest_file("news.json", f'[{{"body": "x", "date": -{big}}}]'.encode())
    assert not articles and [e.reason for e in errors] == ["invalid JSON (a number with too many digits)"]


def test_an_epoch_date_too_large_for_a_float_is_none() -> None:
    assert parse_date(10**400) is None
    assert parse_date(-(10**400)) is None
    assert record_to_article({"body": "Text.", "date": 10**400}, "x.json").date is None


@pytest.mark.parametrize("charset", ["base64", "rot13", "hex", "zlib", "uu", "idna", "punycode"])
def test_a_page_declaring_a_non_text_codec_is_read_as_undeclared(charset: str) -> None:
    page = (f'<html><head><meta charset="{charset}"><title>Ferry resumes</title></head><body><article>'
            + "<p>The ferry to the island resumed service on Monday after a week of storms.</p>" * 3
            + "<p>Caf\u00e9 owners said trade was back.</p></article></body></html>").encode()
    assert "Café owners" in decode_html(page)
    assert "Café owners" in parse_html(page, "page.html").body


def test_a_lone_surrogate_body_without_id_gets_the_stored_bodys_hash() -> None:
    article = record_to_article({"title": "J", "body": "Half \ud800 an emoji."}, "x.json")
    assert article.body == "Half \ufffd an emoji."
    assert article.id == "sha256:" + article.body_hash[:16]
    assert content_hash("a \udc00 b") == content_hash("a \ufffd b")


def test_a_feed_file_without_items_is_one_line() -> None:
    for kind in ("rss2", "rss1", "atom"):
        _, articles, errors = ingest_file("feed.xml", feed_document(kind, "Empty", []).encode())
        assert not articles and [e.reason for e in errors] == ["no articles (the feed has no items)"]
