"""``watch`` rounds against a local HTTP server and a real index (hashing embedder).

Covers: conditional GET so an unchanged round fetches and publishes nothing; only new or
changed articles are indexed; every fault is one line and never stops the others; retry with
backoff; dedup across feeds; retention; stopping mid-round; the CLI.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from feed_server import FeedServer, Route, article_html, rss
from typer.testing import CliRunner

from index.embedding import HashingEmbedder
from index.live.round import RoundReport
from index.live.state import STATE_FILE, LiveState
from index.live.watch import watch
from index.models import Article
from index.pipeline import apply_changes
from index.settings import IndexSettings
from index.sources.settings import LiveSettings
from index.store import META_FILE, IndexReader, read_current, versions_dir

TOPICS = ["harbour", "orchard", "railway", "glacier", "festival", "vaccine", "election", "satellite",
          "bakery", "museum", "stadium", "library"]


def story(n: int, twist: str = "") -> tuple[str, list[str]]:
    """A distinct article: its own topic words, so bodies (and content hashes) differ."""
    t = TOPICS[n % len(TOPICS)]
    u = TOPICS[(n * 5 + 3) % len(TOPICS)]
    return (f"The {t} story number {n}", [
        f"Residents gathered near the {t} on Tuesday morning to discuss story {n} and its {u}.",
        f"Council members said the {t} project number {n} would cost more than expected{twist}.",
        f"Local shops near the {u} reported that visitors to the {t} doubled during the week.",
    ])


@pytest.fixture
def live() -> LiveSettings:
    return LiveSettings(politeness_delay=0, fetch_timeout=0.3, max_redirects=3)


@pytest.fixture
def settings(tmp_path: Path) -> IndexSettings:
    return IndexSettings(index_dir=tmp_path / "idx", allow_private_urls=True, keep_versions=10)


def serve_story(srv: FeedServer, n: int, twist: str = "", date: str | None = None) -> dict[str, str]:
    title, paras = story(n, twist)
    url = srv.page(f"/news/{n}", title, paras, date=date)
    return {"title": title, "link": url, "guid": url, "description": f"Summary of story {n}{twist}."}


def feeds_file(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "feeds.txt"
    path.write_text("# test feeds\n" + "\n".join(urls) + "\n")
    return path


def run(feeds: Path, settings: IndexSettings, live: LiveSettings, *, rounds: int = 1,
        max_age: timedelta | None = None) -> list[RoundReport]:
    return watch(feeds, settings, HashingEmbedder(), timedelta(seconds=0), max_age, rounds, live=live)


def indexed(index_dir: Path) -> dict[str, Article]:
    name = read_current(index_dir)
    if name is None:
        return {}
    with sqlite3.connect(versions_dir(index_dir) / name / META_FILE) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM articles")]
    reader = IndexReader.open(index_dir)
    try:
        return reader.get_articles(ids)
    finally:
        reader.close()


def page_hits(srv: FeedServer) -> int:
    return sum(v for k, v in srv.hits.items() if k.startswith("/news/"))


def test_unchanged_round_costs_only_conditional_gets(srv: FeedServer, live: LiveSettings,
                                                     settings: IndexSettings, tmp_path: Path) -> None:
    a = srv.feed("/a.xml", "Feed A", [serve_story(srv, i) for i in range(3)])
    b = srv.feed("/b.xml", "Feed B", [serve_story(srv, i) for i in range(3, 6)])
    feeds = feeds_file(tmp_path, [a, b])

    (first,) = run(feeds, settings, live)
    assert (first.feeds_fetched, first.articles_new, first.published) == (2, 6, True)
    version = read_current(settings.index_dir)
    assert len(indexed(settings.index_dir)) == 6 and page_hits(srv) == 6

    (second,) = run(feeds, settings, live)  # a new process would see the same: state is on disk
    assert second.line().startswith("round 2: feeds fetched 0, not modified 2, failed 0; "
                                    "articles new 0, updated 0, duplicate 0, failed 0; ")
    assert "no new version" in second.line()
    assert srv.not_modified["/a.xml"] == srv.not_modified["/b.xml"] == 1
    assert page_hits(srv) == 6 and read_current(settings.index_dir) == version

    (settings.index_dir / STATE_FILE).unlink()  # a lost state costs fetches, never embeddings
    (third,) = run(feeds, settings, live)
    assert (third.feeds_fetched, third.articles_new, third.articles_updated) == (2, 0, 0)
    assert page_hits(srv) == 12 and read_current(settings.index_dir) == version


def test_only_new_and_changed_items_are_fetched_and_indexed(srv: FeedServer, live: LiveSettings,
                                                            settings: IndexSettings, tmp_path: Path) -> None:
    items = [serve_story(srv, i) for i in range(4)]
    url = srv.feed("/feed.xml", "Feed", items)
    feeds = feeds_file(tmp_path, [url])
    run(feeds, settings, live)
    assert page_hits(srv) == 4

    items[1] = serve_story(srv, 1, twist=", officials now say")  # the story was updated
    items.append(serve_story(srv, 9))
    srv.feed("/feed.xml", "Feed", items)
    (report,) = run(feeds, settings, live)
    assert (report.articles_new, report.articles_updated, report.published) == (1, 1, True)
    assert srv.hits["/news/0"] == srv.hits["/news/2"] == srv.hits["/news/3"] == 1  # not re-fetched
    body = indexed(settings.index_dir)[items[1]["link"]].body
    assert "officials now say" in body and len(indexed(settings.index_dir)) == 5


def test_every_fault_is_one_line_and_never_stops_the_others(
    srv: FeedServer, live: LiveSettings, settings: IndexSettings, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = [serve_story(srv, i) for i in range(2)]
    srv.route("/news/err", Route(status=500))
    srv.route("/news/hang", Route(hang=True))
    srv.route("/news/loop", Route(status=302, location="/news/loop2"))
    srv.route("/news/loop2", Route(status=302, location="/news/loop"))
    srv.route("/news/huge", Route(body=b"<p>words</p>", stream_bytes=20 * 1024 * 1024))
    srv.route("/news/empty", Route(body=b"<html><body><nav>Home | World</nav></body></html>"))
    cyrillic = article_html("Новости дня", ["Паводок закрыл мост. " + p for p in story(7)[1]], charset=None)
    srv.route("/news/cyrillic", Route(body=cyrillic.encode("cp1251"),
                                      content_type="text/html; charset=windows-1251"))
    items = [
        *good,
        good[0],  # the same item twice in one feed
        {"title": "Err", "link": srv.url("/news/err"), "description": "Server error story, summary only."},
        {"title": "Hang", "link": srv.url("/news/hang")},
        {"title": "Loop", "link": srv.url("/news/loop")},
        {"title": "Huge", "link": srv.url("/news/huge")},
        {"title": "Empty", "link": srv.url("/news/empty"), "description": "Empty page story, summary only."},
        {"title": "Cyr", "link": srv.url("/news/cyrillic")},
        {"title": "No link", "description": "An item with no link but a description of its own."},
        {"title": "Nothing at all"},
    ]
    feeds = feeds_file(tmp_path, [
        srv.feed("/good.xml", "Good", items),
        srv.route("/html.xml", Route(body=article_html("Home", ["Welcome to our site."]).encode())),
        srv.route("/broken.xml", Route(body=rss("B", good).encode()[:-25],
                                       content_type="application/rss+xml")),
        srv.url("/missing.xml"),
        srv.route("/slow.xml", Route(hang=True)),
    ])
    caplog.set_level(logging.INFO, logger="newsbot.watch")

    (report,) = run(feeds, settings, live)
    assert (report.feeds_fetched, report.feeds_failed) == (1, 4)
    assert report.articles_new == 6  # 2 good + cyrillic + 2 summaries + the linkless item
    assert report.articles_fallback == 2 and report.articles_duplicate == 1  # err and empty
    assert report.articles_failed == 4  # hang, loop, huge (no summary) and the empty item
    arts = indexed(settings.index_dir)
    assert "Паводок закрыл мост" in arts[srv.url("/news/cyrillic")].body
    assert arts[srv.url("/news/err")].body == "Server error story, summary only."
    for fragment in ("/html.xml: not a feed", "/broken.xml: malformed feed XML", "/missing.xml: HTTP 404",
                     "/slow.xml: timed out", "/news/err: HTTP 500", "/news/hang: timed out",
                     "/news/loop: redirect loop", "/news/huge: page larger than 10 MB",
                     "/news/empty: no extractable article text", "item has no link and no content"):
        matching = [e for e in report.errors if fragment in e]
        assert len(matching) == 1, (fragment, report.errors)
        assert "\n" not in matching[0]
        assert any(fragment in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("round 1: feeds fetched 1, not modified 0, failed 4; "
                                         "articles new 6, updated 0, duplicate 1, failed 4;")
               for r in caplog.records)
    # The linkless item is indexed from its description: a note, not a failure.
    linkless = "item 'No link': item has no link; indexed the feed's content instead"
    assert not [e for e in report.errors if "item has no link;" in e]
    assert report.notes == [f"note: {srv.url('/good.xml')} {linkless}"]
    assert any(r.getMessage() == report.notes[0] for r in caplog.records)

    # Round 2: the failed page works now and replaces its summary; failures are retried.
    srv.page("/news/err", "Server error fixed", story(8)[1])
    (again,) = run(feeds, settings, live)
    assert again.feeds_failed == 4 and srv.hits["/missing.xml"] == 2 and srv.hits["/news/loop"] == 2
    assert again.articles_updated == 1
    assert indexed(settings.index_dir)[srv.url("/news/err")].title == "Server error fixed"

    # Round 3: every feed fails now; nothing indexed before is lost.
    for path in ("/good.xml", "/html.xml", "/broken.xml", "/slow.xml"):
        srv.route(path, Route(status=503))
    run(feeds, settings, live)
    assert set(indexed(settings.index_dir)) == set(arts)


def test_a_trickling_feed_and_page_are_cut_off_and_the_round_goes_on(
    srv: FeedServer, settings: IndexSettings, tmp_path: Path,
) -> None:
    """Servers that send their headers a byte at a time: each fetch ends at NEWSBOT_FETCH_TIMEOUT
    with one line, and the other feed of the round is indexed."""
    timeout = 1.0
    live = LiveSettings(politeness_delay=0, fetch_timeout=timeout)
    slow_page = srv.route("/news/trickle", Route(trickle=0.1, body=b"<p>never complete</p>"))
    slow_body = rss("Slow", [serve_story(srv, 2)]).encode()
    slow_feed = srv.route("/trickle.xml", Route(trickle=0.1, body=slow_body))
    trickling_item = {"title": "Trickle", "link": slow_page, "description": "In brief."}
    good = srv.feed("/good.xml", "Good", [serve_story(srv, 1), trickling_item])
    feeds = feeds_file(tmp_path, [slow_feed, good])

    (report,) = run(feeds, settings, live)
    assert report.seconds < 2 * timeout + 2.0  # two fetches cut off, not minutes of trickling
    assert report.errors == [
        f"fetch error: {slow_feed}: timed out after 1 s",
        f"fetch error: {slow_page}: timed out after 1 s; indexed the feed's summary instead",
    ]
    assert (report.feeds_fetched, report.feeds_failed, report.articles_new) == (1, 1, 2)
    assert indexed(settings.index_dir)[slow_page].body == "In brief."


def test_failed_pages_are_retried_next_round_then_with_backoff(
    srv: FeedServer, live: LiveSettings, settings: IndexSettings, tmp_path: Path,
) -> None:
    item = {"title": "Flaky", "link": srv.url("/news/flaky"), "description": "Flaky story, in brief."}
    srv.route("/news/flaky", Route(status=500))
    missing = srv.url("/gone.xml")
    feeds = feeds_file(tmp_path, [srv.feed("/feed.xml", "F", [item]), missing])

    reports = run(feeds, settings, live, rounds=4)
    # The feed that is gone: tried in rounds 1 and 2, skipped in round 3, tried in round 4.
    assert srv.hits["/gone.xml"] == 3 and reports[2].feeds_backing_off == 1
    assert srv.hits["/news/flaky"] == 3
    assert indexed(settings.index_dir)[item["link"]].body == "Flaky story, in brief."

    title, paras = story(3)
    srv.page("/news/flaky", title, paras)
    later = run(feeds, settings, live, rounds=4)
    assert sum(r.articles_updated for r in later) == 1
    assert indexed(settings.index_dir)[item["link"]].title == title


def test_a_big_feed_is_taken_newest_first_over_several_rounds(
    srv: FeedServer, settings: IndexSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    live = LiveSettings(politeness_delay=0, fetch_timeout=1.0, feed_max_items=5)
    items = []
    for n in range(12):  # listed oldest first, so "newest first" is not the feed's order
        item = serve_story(srv, n)
        item["pubDate"] = format_datetime(datetime(2024, 5, n + 1, 12, tzinfo=UTC))
        items.append(item)
    feed = srv.feed("/big.xml", "Big", items)
    feeds = feeds_file(tmp_path, [feed])
    caplog.set_level(logging.INFO, logger="newsbot.watch")

    (first,) = run(feeds, settings, live)
    assert (first.articles_new, first.articles_deferred) == (5, 7)
    assert set(indexed(settings.index_dir)) == {items[n]["link"] for n in range(7, 12)}
    note = (f"note: round 1: 7 new or changed items left for the next rounds (at most 5 per feed and "
            f"1000 per round: NEWSBOT_FEED_MAX_ITEMS, NEWSBOT_ROUND_MAX_ARTICLES); most from {feed} (7)")
    assert first.notes == [note] and first.errors == []
    assert [r.getMessage() for r in caplog.records].count(note) == 1
    assert "(left for next rounds 7, fallback 0" in first.line()

    # The feed did not change, yet the next rounds fetch it in full and take the rest.
    (second,) = run(feeds, settings, live)
    assert (second.articles_new, second.articles_deferred) == (5, 2)
    assert set(indexed(settings.index_dir)) == {items[n]["link"] for n in range(2, 12)}
    third, fourth = run(feeds, settings, live, rounds=2)
    assert (third.articles_new, third.articles_deferred, third.notes) == (2, 0, [])
    assert (fourth.feeds_not_modified, fourth.articles_new) == (1, 0)  # all taken: a 304 again
    assert set(indexed(settings.index_dir)) == {item["link"] for item in items}
    assert page_hits(srv) == 12  # every page fetched once


def test_the_round_cap_is_shared_across_feeds(srv: FeedServer, settings: IndexSettings,
                                              tmp_path: Path) -> None:
    live = LiveSettings(politeness_delay=0, fetch_timeout=1.0, round_max_articles=4)
    a = [serve_story(srv, n) for n in range(3)]  # undated: taken in the feed's order
    b = [serve_story(srv, n) for n in range(3, 6)]
    feeds = feeds_file(tmp_path, [srv.feed("/a.xml", "A", a), srv.feed("/b.xml", "B", b)])

    (first,) = run(feeds, settings, live)
    assert (first.articles_new, first.articles_deferred) == (4, 2)
    assert set(indexed(settings.index_dir)) == {a[0]["link"], a[1]["link"], b[0]["link"], b[1]["link"]}
    (second,) = run(feeds, settings, live)
    assert (second.articles_new, second.articles_deferred) == (2, 0)
    assert len(indexed(settings.index_dir)) == 6


def test_one_story_through_several_feeds_is_indexed_once(srv: FeedServer, live: LiveSettings,
                                                         settings: IndexSettings, tmp_path: Path) -> None:
    title, paras = story(1)
    canon = srv.url("/news/1")
    srv.page("/news/1", title, paras, canonical=canon)
    srv.page("/amp/1", title, paras, canonical=canon)  # another URL, same canonical
    srv.page("/mirror/1", title, paras)  # another URL, same text, no canonical
    feeds = feeds_file(tmp_path, [
        srv.feed("/a.xml", "A", [{"title": title, "link": canon + "?utm_source=a"},
                                 {"title": title, "link": canon}]),
        srv.feed("/b.xml", "B", [{"title": title, "link": canon + "#comments"}]),
        srv.feed("/c.xml", "C", [{"title": title, "link": srv.url("/amp/1")}]),
        srv.feed("/d.xml", "D", [{"title": title, "link": srv.url("/mirror/1")}]),
    ])
    (report,) = run(feeds, settings, live)
    assert report.articles_new == 1 and report.articles_duplicate == 4
    assert list(indexed(settings.index_dir)) == [canon]
    assert sum(n for path, n in srv.hits.items() if path.startswith("/news/1")) == 1  # fetched once


def test_max_age_removes_old_articles_in_the_same_update(srv: FeedServer, live: LiveSettings,
                                                         settings: IndexSettings, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = serve_story(srv, 1, date=(now - timedelta(days=400)).isoformat())
    old["pubDate"] = format_datetime(now - timedelta(days=400))
    fresh = serve_story(srv, 2, date=(now - timedelta(days=1)).isoformat())
    feed = srv.feed("/feed.xml", "F", [old, fresh])
    feeds = feeds_file(tmp_path, [feed])
    run(feeds, settings, live)
    # An old article added by `index add`, which the watch state knows nothing about.
    apply_changes([Article(id="local-1", title="Old local", body="An old local article about the harbour.",
                           date=now - timedelta(days=800))], [], settings, HashingEmbedder())
    assert set(indexed(settings.index_dir)) == {old["link"], fresh["link"], "local-1"}
    before = read_current(settings.index_dir)

    (report,) = run(feeds, settings, live, max_age=timedelta(days=365))
    assert report.articles_removed == 2 and report.published
    assert set(indexed(settings.index_dir)) == {fresh["link"]}
    assert read_current(settings.index_dir) != before


def test_stop_mid_round_publishes_and_saves_nothing(srv: FeedServer, live: LiveSettings,
                                                    settings: IndexSettings, tmp_path: Path) -> None:
    items = [serve_story(srv, i) for i in range(2)]
    feeds = feeds_file(tmp_path, [srv.feed("/feed.xml", "F", items)])
    run(feeds, settings, live)
    version = read_current(settings.index_dir)
    srv.route("/news/slow", Route(hang=True))
    srv.feed("/feed.xml", "F", [*items, {"title": "Slow", "link": srv.url("/news/slow")},
                                serve_story(srv, 5)])
    stop = threading.Event()

    def stop_when_hanging() -> None:
        srv.hanging.wait(10)
        stop.set()

    threading.Thread(target=stop_when_hanging, daemon=True).start()
    reports = watch(feeds, settings, HashingEmbedder(), timedelta(0), None, 1, live=live, stop=stop)
    assert reports == [] and read_current(settings.index_dir) == version
    assert LiveState.load(settings.index_dir).round == 1  # the unfinished round is redone next time
    (redo,) = run(feeds, settings, live)
    assert redo.round == 2 and redo.articles_new == 1 and redo.articles_failed == 1


def test_cli_index_add_feed_url_and_watch(srv: FeedServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from index.cli import index_app

    for key, value in {"NEWSBOT_MODEL": "hashing-test", "NEWSBOT_ALLOW_PRIVATE_URLS": "1",
                       "NEWSBOT_POLITENESS_DELAY": "0", "NEWSBOT_FETCH_TIMEOUT": "1"}.items():
        monkeypatch.setenv(key, value)
    items = [serve_story(srv, i) for i in range(2)]
    items.append({"title": "Gone", "link": srv.url("/news/gone"), "description": "Gone story, in brief."})
    feed = srv.feed("/feed.xml", "F", items)
    index_dir = tmp_path / "idx"
    runner = CliRunner()

    result = runner.invoke(index_app, ["add", feed, "--index", str(index_dir)])
    assert "added 3" in result.stdout
    assert f"{srv.url('/news/gone')}: HTTP 404 Not Found; indexed the feed's summary instead" in result.stderr
    assert len(indexed(index_dir)) == 3

    feeds = feeds_file(tmp_path, [feed])
    result = runner.invoke(index_app, ["watch", "--feeds", str(feeds), "--index", str(index_dir),
                                       "--every", "1s", "--rounds", "1", "--max-age", "3650d"])
    assert result.exit_code == 0, result.output
    assert (index_dir / STATE_FILE).exists()

    bad = runner.invoke(index_app, ["watch", "--feeds", str(feeds), "--every", "soon"])
    assert bad.exit_code == 2 and "--every: 'soon' is not a duration" in bad.stderr


def test_index_add_a_feed_item_without_a_link_is_a_note_not_a_failure(
    srv: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from index.cli import index_app

    for key, value in {"NEWSBOT_MODEL": "hashing-test", "NEWSBOT_ALLOW_PRIVATE_URLS": "1",
                       "NEWSBOT_POLITENESS_DELAY": "0", "NEWSBOT_FETCH_TIMEOUT": "1"}.items():
        monkeypatch.setenv(key, value)
    feed = srv.feed("/feed.xml", "F", [
        serve_story(srv, 1),
        {"title": "Brief", "guid": "brief-1", "description": "A brief from the newsroom about the harbour."},
    ])
    index_dir = tmp_path / "idx"
    result = CliRunner().invoke(index_app, ["add", feed, "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert "added 2," in result.stdout and "failed 0," in result.stdout
    assert result.stderr.splitlines() == [
        f"note: {feed} item 'brief-1': item has no link; indexed the feed's content instead"]
    assert indexed(index_dir)[f"{feed}#brief-1"].body == "A brief from the newsroom about the harbour."


def test_cli_watch_takes_its_caps_from_the_environment(srv: FeedServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from index.cli import index_app

    for key, value in {"NEWSBOT_MODEL": "hashing-test", "NEWSBOT_ALLOW_PRIVATE_URLS": "1",
                       "NEWSBOT_POLITENESS_DELAY": "0", "NEWSBOT_FETCH_TIMEOUT": "1",
                       "NEWSBOT_FEED_MAX_ITEMS": "2"}.items():
        monkeypatch.setenv(key, value)
    feed = srv.feed("/feed.xml", "F", [serve_story(srv, i) for i in range(3)])
    feeds, index_dir = feeds_file(tmp_path, [feed]), tmp_path / "idx"
    args = ["watch", "--feeds", str(feeds), "--index", str(index_dir), "--every", "1s", "--rounds", "1"]
    runner = CliRunner()

    result = runner.invoke(index_app, args)
    assert result.exit_code == 0, result.output
    note = "note: round 1: 1 new or changed items left for the next rounds (at most 2 per feed"
    assert note in result.stderr
    assert len(indexed(index_dir)) == 2
    assert runner.invoke(index_app, args).exit_code == 0 and len(indexed(index_dir)) == 3

    monkeypatch.setenv("NEWSBOT_ROUND_MAX_ARTICLES", "0")
    bad = runner.invoke(index_app, args)
    assert bad.exit_code == 2 and bad.stderr.startswith("config error: NEWSBOT_ROUND_MAX_ARTICLES: ")


def test_a_page_that_fails_later_keeps_its_full_article(srv: FeedServer, live: LiveSettings,
                                                        settings: IndexSettings, tmp_path: Path) -> None:
    item = serve_story(srv, 4)
    feeds = feeds_file(tmp_path, [srv.feed("/feed.xml", "F", [item])])
    run(feeds, settings, live)
    full = indexed(settings.index_dir)[item["link"]].body

    srv.route("/news/4", Route(status=500))
    srv.feed("/feed.xml", "F", [{**item, "description": "A new summary that must not replace the text."}])
    (report,) = run(feeds, settings, live)
    assert report.articles_failed == 1 and not report.published
    assert report.errors == [f"fetch error: {item['link']}: HTTP 500 Internal Server Error; "
                             "the article indexed before is kept"]
    assert indexed(settings.index_dir)[item["link"]].body == full


def test_feed_files_in_the_feeds_file(srv: FeedServer, live: LiveSettings, settings: IndexSettings,
                                      tmp_path: Path) -> None:
    local = tmp_path / "saved.xml"
    local.write_text(rss("Saved", [serve_story(srv, 1)]))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("saved.xml\n")  # relative to the feeds file
    first, second = run(feeds, settings, live, rounds=2)
    assert (first.feeds_fetched, first.articles_new) == (1, 1)
    assert (second.feeds_fetched, second.feeds_not_modified) == (0, 1)
    local.write_text(rss("Saved", [serve_story(srv, 1), serve_story(srv, 2)]))
    (third,) = run(feeds, settings, live)
    assert (third.feeds_fetched, third.articles_new) == (1, 1)
