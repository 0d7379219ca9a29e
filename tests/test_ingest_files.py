"""iter_articles over folders, files and URLs: every bad input is one named, skipped error."""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FIXTURES, shared_path

from index.errors import IngestError, IngestNote
from index.models import Article
from index.settings import IndexSettings
from index.sources import iter_articles, parse_date

BODY = "The council approved the budget on Tuesday. Spending will rise by 4%."


def run(*sources: str | Path, **settings: object) -> tuple[list[Article], list[IngestError]]:
    articles: list[Article] = []
    errors: list[IngestError] = []
    for item in iter_articles([str(s) for s in sources], IndexSettings(**settings)):  # type: ignore[arg-type]
        (errors if isinstance(item, IngestError) else articles).append(item)  # type: ignore[arg-type]
    return articles, errors


def write_jsonl(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return path


# ---------------------------------------------------------------- JSON and JSONL


def test_a_lone_surrogate_in_a_record_does_not_cost_the_build(tmp_path: Path) -> None:
    from index.embedding import HashingEmbedder
    from index.pipeline import build_index
    from index.store import verify_index

    path = write_jsonl(tmp_path / "news.jsonl", [
        '{"id": "s1", "title": "Odd \\ud83d title", "body": "a \\udc00 b. Two more words here."}',
        json.dumps({"id": "s2", "title": "Budget passes", "body": BODY}),
    ])
    one = '{"id": "s3", "title": "J", "body": "Half \\ud800 an emoji. Still text."}'
    (tmp_path / "one.json").write_text(one)
    settings = IndexSettings(index_dir=tmp_path / "idx", model="hashing-test")
    report = build_index([path, tmp_path / "one.json"], settings, HashingEmbedder(), progress=False)
    assert report.articles == 3 and report.failed == 0
    articles, _ = run(path)
    assert articles[0].body == "a \ufffd b. Two more words here." and articles[0].title == "Odd \ufffd title"
    assert verify_index(settings.index_dir).ok


def test_jsonl_bad_lines_are_named_and_the_rest_is_ingested(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "news.jsonl", [
        json.dumps({"id": "a1", "title": "Budget passes", "body": BODY}),
        '{"id": "a2", "title": "Broken", "body": "unterminated',
        "",
        json.dumps({"id": "a3", "title": "No text here"}),
        json.dumps({"id": "a4", "body": "   "}),
        json.dumps(["not", "an", "object"]),
        b'{"id": "a6", "body": "Bad byte \xff here."}',
        json.dumps({"id": "a7", "headline": "Last one", "text": "It still counts."}),
    ])
    articles, errors = run(path)
    assert [a.id for a in articles] == ["a1", "a7"]
    assert articles[0].origin == f"{path}:1"
    reasons = {e.line: e.reason for e in errors}
    assert set(reasons) == {2, 4, 5, 6, 7}
    assert reasons[2].startswith("invalid JSON")
    assert reasons[4] == "no body/text/content field"
    assert reasons[5] == "empty body"
    assert "JSON object" in reasons[6]
    assert reasons[7].startswith("invalid UTF-8 at byte")
    assert str(errors[1]) == f"{path}:4: no body/text/content field"


def test_json_field_aliases_dates_and_ids(tmp_path: Path) -> None:
    record = {
        "headline": "Port strike ends",
        "content": ["Dock workers returned on Monday.", "Talks lasted nine days."],
        "pubDate": "Fri, 01 Dec 2023 10:00:00 GMT",
        "link": "https://example.org/port-strike",
        "publisher": {"name": "Harbour Daily"},
        "authors": ["Ana Ruiz", {"name": "Ben Cole"}],
    }
    (tmp_path / "one.json").write_text(json.dumps(record), encoding="utf-8")
    (tmp_path / "many.json").write_text(json.dumps({"articles": [
        {"id": 42, "title": "Numbered", "article": BODY, "published_at": "2023-12-01"},
        {"title": "No body"},
        {"title": "Hashed", "body": BODY + " Extra.", "date": "not a date"},
    ]}), encoding="utf-8")
    articles, errors = run(tmp_path)
    by_title = {a.title: a for a in articles}
    strike = by_title["Port strike ends"]
    assert strike.id == "https://example.org/port-strike"
    assert strike.body == "Dock workers returned on Monday.\n\nTalks lasted nine days."
    assert strike.date == datetime(2023, 12, 1, 10, tzinfo=UTC)
    assert strike.source == "Harbour Daily"
    assert strike.byline == "Ana Ruiz, Ben Cole"
    assert by_title["Numbered"].id == "42"
    assert by_title["Numbered"].date == datetime(2023, 12, 1, tzinfo=UTC)
    assert by_title["Hashed"].id.startswith("sha256:")
    assert by_title["Hashed"].date is None  # an unreadable date is not a failure
    assert [str(e) for e in errors] == [f"{tmp_path / 'many.json'}[2]: no body/text/content field"]


def test_json_bodies_holding_html_markup_or_entities_become_plain_paragraphs(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "cms.jsonl", [json.dumps({
        "title": "&#163;1.8m fine for broadcaster",
        "content": "<p>The regulator fined the broadcaster <a href='/x'>&pound;1.8m</a> on Monday.</p>"
                   "<script>track()</script><p>AT&T and R&D were not involved.</p>",
    })])
    [article], _ = run(path)
    assert article.title == "£1.8m fine for broadcaster"
    assert article.body == (
        "The regulator fined the broadcaster £1.8m on Monday.\n\nAT&T and R&D were not involved."
    )


def test_the_longest_text_field_is_the_body(tmp_path: Path) -> None:
    # SQuAD-style passages: "article" is a slug, "context" is the text
    path = write_jsonl(tmp_path / "passages.jsonl", [
        json.dumps({"id": "Harbour-000", "title": "Harbour", "article": "Harbour", "context": BODY}),
        json.dumps({"title": "Summary only", "description": "The mayor resigned on Friday."}),
    ])
    articles, errors = run(path)
    assert errors == []
    assert (articles[0].id, articles[0].body) == ("Harbour-000", BODY)
    assert articles[1].body == "The mayor resigned on Friday."


def test_json_lines_saved_as_json_are_read_line_by_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.json", [
        json.dumps({"id": "x1", "body": BODY}), "{oops", json.dumps({"id": "x3", "body": BODY}),
    ])
    articles, errors = run(path)
    assert [a.id for a in articles] == ["x1", "x3"]
    assert [e.line for e in errors] == [2]


def test_malformed_json_document_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "title": "x",\n  "body": oops\n}', encoding="utf-8")
    _, errors = run(path)
    assert len(errors) == 1 and errors[0].line == 3 and "invalid JSON" in errors[0].reason


# ---------------------------------------------------------------- files that cannot be read


def test_bad_files_are_each_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(BODY, encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00 zip data")
    (tmp_path / "latin1.json").write_bytes('{"body": "Caf\xe9 prices rose."}'.encode("latin-1"))
    (tmp_path / "empty.json").write_bytes(b"  \n")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing-target.txt")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block forever
    articles, errors = run(tmp_path)
    assert [a.origin for a in articles] == [str(tmp_path / "good.txt")]
    reasons = {Path(e.origin).name: e.reason for e in errors}
    assert reasons == {
        "binary.txt": "binary file (NUL bytes), not text",
        "latin1.json": "invalid UTF-8 at byte 13",  # JSON is UTF-8 by definition
        "empty.json": "empty file",
        "gone.txt": "unreadable file (No such file or directory)",
        "pipe.txt": "not a regular file",
    }


def test_a_page_saved_as_txt_is_read_as_html(tmp_path: Path) -> None:
    page = tmp_path / "saved.txt"
    page.write_bytes((FIXTURES / "ingest" / "lakeside_courier.html").read_bytes())
    [article], _ = run(page)
    assert article.title == "Ferry service to Pine Island resumes after storm repairs"
    assert "<" not in article.body


def test_file_over_the_size_limit_is_skipped_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "dump.jsonl"
    with big.open("wb") as fh:  # sparse: 50 MB on paper, nothing on disk
        fh.truncate(50 * 1024 * 1024)
    small = tmp_path / "small.txt"
    small.write_text(BODY, encoding="utf-8")
    articles, errors = run(big, small)
    assert len(articles) == 1
    assert len(errors) == 1 and errors[0].origin == str(big)
    assert errors[0].reason.startswith("file too large (50.0 MB > 20.0 MB")
    _, errors = run(small, max_file_bytes=10)
    assert errors[0].reason.startswith("file too large")


def test_missing_and_unsupported_sources_are_reported_and_others_still_ingested(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"whatever")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "story.txt").write_text(BODY, encoding="utf-8")
    articles, errors = run(tmp_path / "nope", tmp_path / "notes.docx", tmp_path)
    assert [str(e) for e in errors if not isinstance(e, IngestNote)] == [
        f"{tmp_path / 'nope'}: no such file or directory",
        f"{tmp_path / 'notes.docx'}: unsupported file type '.docx'",
    ]
    # inside a folder, other files are notes (one line each, not failures)
    assert [(Path(e.origin).name, e.kind) for e in errors if isinstance(e, IngestNote)] == [
        ("notes.docx", "note"), ("photo.jpg", "note")]
    assert [Path(a.origin or "").name for a in articles] == ["story.txt"]


def test_folders_are_walked_recursively_sorted_and_hidden_entries_skipped(tmp_path: Path) -> None:
    for rel in ["b/2.txt", "b/1.txt", "a.txt", "c/d/e.md", ".git/x.txt", "b/.draft.txt"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Story {rel} was filed on time.", encoding="utf-8")
    articles, errors = run(tmp_path)
    assert errors == []
    assert [Path(a.origin or "").relative_to(tmp_path).as_posix() for a in articles] == [
        "a.txt", "b/1.txt", "b/2.txt", "c/d/e.md",
    ]


def test_fixture_folder_mixes_formats(tmp_path: Path) -> None:
    articles, errors = run(FIXTURES / "ingest")
    assert errors == []
    assert sorted(a.source or "" for a in articles) == [
        "", "Coastal Times", "The Harbor Ledger", "The Lakeside Courier", "Valley Post",
    ]
    assert all(a.date is not None and a.date.tzinfo is not None for a in articles)


# ---------------------------------------------------------------- URLs and feeds


def fake_pages(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> None:
    module = types.ModuleType("index.sources.pages")

    def iter_url_articles(
        source: str, settings: IndexSettings, **parse: object
    ) -> Iterator[Article | IngestError]:
        assert list(parse) == ["parse_html"]  # remote.iter_remote hands pages its HTML extractor
        seen.append(source)
        yield Article(id=source, title="From the web", body=BODY, origin=source)

    module.iter_url_articles = iter_url_articles  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "index.sources.pages", module)


def test_urls_and_feed_files_go_to_the_pages_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    fake_pages(monkeypatch, seen)
    feed = tmp_path / "feeds" / "world.rss"
    feed.parent.mkdir()
    feed.write_text("<rss/>", encoding="utf-8")
    articles, errors = run("https://news.example/feed", tmp_path / "feeds")
    assert errors == []
    assert seen == ["https://news.example/feed", str(feed)]
    assert [a.id for a in articles] == seen


def test_without_the_pages_module_urls_are_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "index.sources.pages", None)  # import now fails
    (tmp_path / "s.txt").write_text(BODY, encoding="utf-8")
    articles, errors = run("http://example.org/a", tmp_path / "s.txt")
    assert len(articles) == 1
    assert [str(e) for e in errors] == [
        "http://example.org/a: feeds and URLs are not supported in this build"
    ]


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-12-01", datetime(2023, 12, 1, tzinfo=UTC)),
        ("2023-12-01T10:30:00Z", datetime(2023, 12, 1, 10, 30, tzinfo=UTC)),
        ("2023-12-01T10:30:00+02:00", datetime(2023, 12, 1, 8, 30, tzinfo=UTC)),
        ("2023-12-01 10:30", datetime(2023, 12, 1, 10, 30, tzinfo=UTC)),
        ("Fri, 01 Dec 2023 10:30:00 +0000", datetime(2023, 12, 1, 10, 30, tzinfo=UTC)),
        ("Fri, 01 Dec 2023 10:30:00 EST", datetime(2023, 12, 1, 15, 30, tzinfo=UTC)),
        ("Friday, December 1, 2023", datetime(2023, 12, 1, tzinfo=UTC)),
        ("1 December 2023, 09:15 GMT", datetime(2023, 12, 1, 9, 15, tzinfo=UTC)),
        ("Published: 1 Dec 2023 10:30 BST", datetime(2023, 12, 1, 9, 30, tzinfo=UTC)),
        ("Last modified on Wed 6 Dec 2023 12.01 GMT", datetime(2023, 12, 6, 12, 1, tzinfo=UTC)),
        ("Jan 4, 2024, 10:02 AM ET", datetime(2024, 1, 4, 15, 2, tzinfo=UTC)),
        ("04.01.2024", datetime(2024, 1, 4, tzinfo=UTC)),  # dotted dates are day-first
        ("13/01/2024", datetime(2024, 1, 13, tzinfo=UTC)),
        (1701426600, datetime(2023, 12, 1, 10, 30, tzinfo=UTC)),
        ("December 1", None),  # no year: better no date than this year's
        ("yesterday", None),
        ("", None),
        ("32/13/2023", None),
        (None, None),
    ],
)
def test_dates_are_parsed_to_aware_datetimes_or_none(value: object, expected: datetime | None) -> None:
    parsed = parse_date(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None


def test_naive_dates_become_utc() -> None:
    parsed = parse_date("2024-02-29T23:00:00")
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


# ---------------------------------------------------------------- the BBC corpus


def test_bbc_corpus_ingests_completely() -> None:
    path = shared_path("datasets", "bbc_news", "bbc_news.jsonl")
    articles, errors = run(path)
    assert errors == []
    assert len(articles) == 2225
    assert len({a.id for a in articles}) == 2225
    assert all(a.title and a.body for a in articles)


def test_deeply_nested_json_is_one_line_and_the_good_lines_still_count(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = write_jsonl(tmp_path / "deep.jsonl", [
        json.dumps({"id": "d1", "title": "Budget passes", "body": BODY}),
        deep,
        json.dumps({"id": "d3", "title": "Still here", "body": BODY}),
    ])
    (tmp_path / "deep.json").write_text(deep)
    articles, errors = run(path, tmp_path / "deep.json")
    assert [a.id for a in articles] == ["d1", "d3"]
    assert [(e.line, e.reason) for e in errors] == [
        (2, "invalid JSON (nested too deeply)"), (None, "invalid JSON (nested too deeply)")
    ]


def test_quoted_globs_are_expanded_and_an_empty_one_says_so(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    for name in ("b.md", "a.md", "c.txt"):
        (tmp_path / "junk" / name).write_text(f"Story {name}\n\n{BODY}\n")
    articles, errors = run(str(tmp_path / "junk" / "*.md"), str(tmp_path / "nothing" / "*.md"))
    assert [Path(a.origin or "").name for a in articles] == ["a.md", "b.md"]
    assert [e.one_line() for e in errors] == [
        f"ingest error: {tmp_path / 'nothing' / '*.md'}: no files match this pattern"
    ]


def test_a_latin1_text_scrape_is_read_as_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    text = "Caf\u00e9 owner wins award\n\nThe caf\u00e9 in M\u00fcnster won \u00a35,000 \u2013 twice.\n"
    path.write_bytes(text.encode("cp1252"))
    (tmp_path / "broken.txt").write_bytes(b"Title\n\nBad \x81 byte that no charset here knows.\n")
    articles, errors = run(path, tmp_path / "broken.txt")
    assert [a.title for a in articles] == ["Caf\u00e9 owner wins award"]
    assert "M\u00fcnster won \u00a35,000 \u2013 twice." in articles[0].body
    assert [e.reason for e in errors] == ["invalid UTF-8 at byte 11"]
