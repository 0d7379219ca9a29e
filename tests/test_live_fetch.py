"""Fetching feeds and pages through a real local HTTP server: faults, policy, encodings,
and ``iter_url_articles`` (what ``newsbot index add URL`` ingests)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pytest
from feed_server import FeedServer, Route, article_html, rss

from index.errors import FetchError, IngestError, IngestNote
from index.models import Article
from index.settings import IndexSettings
from index.sources.fetch import Fetcher
from index.sources.html import parse_html
from index.sources.pages import iter_url_articles
from index.sources.settings import LiveSettings

PARAS = [
    "The river burst its banks on Monday night after three days of heavy rain in the valley.",
    "Officials said more than two hundred homes were flooded and the main bridge was closed.",
    "Volunteers filled sandbags at the town hall while the army brought in pumps and boats.",
]

#: ``index add URL``'s view: the live sources with the ingest layer's HTML extractor.
url_articles = partial(iter_url_articles, parse_html=parse_html)


@pytest.fixture
def live() -> LiveSettings:
    return LiveSettings(politeness_delay=0, fetch_timeout=0.5, max_redirects=4)


def settings(tmp_path: Path, allow_private: bool = True) -> IndexSettings:
    return IndexSettings(index_dir=tmp_path / "idx", allow_private_urls=allow_private)


def split(results: list[Article | IngestError]) -> tuple[list[Article], list[str]]:
    """Articles, and the lines of failures and notes."""
    arts = [r for r in results if isinstance(r, Article)]
    errors = [r.one_line() for r in results if isinstance(r, IngestError)]
    return arts, errors


# --- the fetcher ----------------------------------------------------------------------------

def test_user_agent_names_the_project_and_conditional_get_gets_304(srv: FeedServer,
                                                                  live: LiveSettings) -> None:
    url = srv.feed("/feed.xml", "Gazette", [])
    with Fetcher(live) as fetcher:
        first = fetcher.get(url, trusted=True)
        again = fetcher.get(url, trusted=True, etag=first.etag, last_modified=first.last_modified)
    assert first.status == 200 and again.not_modified and again.content == b""
    assert srv.not_modified["/feed.xml"] == 1
    assert all(ua.startswith("newsbot/") for ua in srv.user_agents)


@pytest.mark.parametrize(("route", "reason"), [
    (Route(status=404, body=b"nope"), "HTTP 404"),
    (Route(status=500, body=b"boom"), "HTTP 500"),
    (Route(hang=True), "timed out after 0.5 s"),
    (Route(body=b"<p>x</p>", stream_bytes=20 * 1024 * 1024), "page larger than 10 MB"),
    (Route(body=b"x" * (11 * 1024 * 1024)), "page larger than 10 MB"),  # declared Content-Length
])
def test_http_faults_are_one_line_naming_the_url(srv: FeedServer, live: LiveSettings, route: Route,
                                                 reason: str) -> None:
    url = srv.route("/bad", route)
    with Fetcher(live) as fetcher, pytest.raises(FetchError) as info:
        fetcher.get(url, trusted=True)
    line = info.value.one_line()
    assert line.startswith(f"fetch error: {url}: ") and reason in line and "\n" not in line


#: Seconds a fetch may overrun its deadline in these tests (thread scheduling on a busy machine).
DEADLINE_SLACK = 1.0


def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(srv: FeedServer) -> None:
    """Each header byte comes well within the timeout, but the whole response never would:
    the timeout covers the request from connect to last byte, not each read separately."""
    timeout = 1.0
    live = LiveSettings(politeness_delay=0, fetch_timeout=timeout)
    url = srv.route("/trickle.xml", Route(body=b"<rss/>", trickle=0.1, headers={"X-Pad": "p" * 40}))
    started = time.monotonic()
    with Fetcher(live) as fetcher, pytest.raises(FetchError) as info:
        fetcher.get(url, trusted=True)  # ~10 s of headers at 10 bytes a second
    assert time.monotonic() - started < timeout + DEADLINE_SLACK
    assert info.value.one_line() == f"fetch error: {url}: timed out after 1 s"


def test_redirects_followed_loops_and_long_chains_refused(srv: FeedServer, live: LiveSettings) -> None:
    srv.route("/old", Route(status=301, location="/new"))
    srv.route("/new", Route(body=b"moved here"))
    srv.route("/a", Route(status=302, location="/b"))
    srv.route("/b", Route(status=302, location=srv.url("/a")))
    for i in range(6):
        srv.route(f"/hop{i}", Route(status=302, location=f"/hop{i + 1}"))
    with Fetcher(live) as fetcher:
        result = fetcher.get(srv.url("/old"), trusted=True)
        assert result.content == b"moved here" and result.url == srv.url("/new")
        with pytest.raises(FetchError, match="redirect loop"):
            fetcher.get(srv.url("/a"), trusted=True)
        with pytest.raises(FetchError, match=r"too many redirects \(more than 4\)"):
            fetcher.get(srv.url("/hop0"), trusted=True)


def test_redirect_to_another_host_is_checked_again(srv: FeedServer, live: LiveSettings) -> None:
    # The operator trusts 127.0.0.1; the redirect leads to "localhost", a host nobody named.
    port = srv.base.rsplit(":", 1)[1]
    srv.route("/secret", Route(body=b"internal"))
    url = srv.route("/jump", Route(status=302, location=f"http://localhost:{port}/secret"))
    with Fetcher(live, allow_private=False) as fetcher, pytest.raises(FetchError, match="loopback"):
        fetcher.get(url, trusted=True)
    assert srv.hits["/secret"] == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://10.0.0.1/", "http://169.254.169.254/latest/",
                                 "http://localhost/"])
def test_untrusted_urls_to_internal_addresses_refused_without_a_request(live: LiveSettings, url: str) -> None:
    with Fetcher(live, allow_private=False) as fetcher, pytest.raises(FetchError, match="refused"):
        fetcher.get(url, trusted=False)


# --- iter_url_articles ----------------------------------------------------------------------

def test_feed_url_items_become_articles_with_page_metadata(srv: FeedServer, live: LiveSettings,
                                                           tmp_path: Path) -> None:
    canon = srv.url("/story/flood")
    a = srv.page("/story/flood?src=rss", "Flood closes bridge", PARAS, date="2024-03-05T08:00:00Z",
                 canonical=canon)
    b = srv.page("/story/b", "Second story", [p.replace("river", "canal") for p in PARAS])
    items = [
        {"title": "Flood", "link": a + "&utm_source=feed", "description": "Flood summary."},
        {"title": "B", "link": b, "pubDate": "Tue, 05 Mar 2024 10:00:00 GMT", "description": "B summary."},
        {"title": "B again", "link": b, "description": "B summary."},
        {"title": "Linkless", "guid": "n1", "description": "A brief note from the newsroom about the flood."},
    ]
    feed = srv.feed("/feed.xml", "Valley News", items)
    results = list(url_articles(feed, settings(tmp_path), live))
    arts, lines = split(results)
    by_id = {x.id: x for x in arts}
    flood = by_id[canon]
    assert flood.title == "Flood closes bridge" and flood.url == canon
    assert "two hundred homes" in flood.body and "Copyright" not in flood.body
    assert flood.date is not None and flood.date.year == 2024
    second = by_id[b]
    assert second.date is not None and second.date.day == 5  # from the feed when the page has none
    assert [x.id for x in arts].count(b) == 2  # yielded twice: the pipeline counts the duplicate
    assert srv.hits["/story/b"] == 1  # ...but fetched once
    note = by_id[f"{feed}#n1"]
    assert note.body == "A brief note from the newsroom about the flood." and note.source == "Valley News"
    # No link is no failure (docs/feeds.md): one note, which the pipeline does not count as failed.
    assert [type(r) for r in results if not isinstance(r, Article)] == [IngestNote]
    assert lines == [f"note: {feed} item 'n1': item has no link; indexed the feed's content instead"]


def test_page_failures_fall_back_to_the_feed_summary_and_say_so(srv: FeedServer, live: LiveSettings,
                                                                tmp_path: Path) -> None:
    srv.route("/gone", Route(status=404))
    srv.route("/empty", Route(body=b"<html><body><nav><a href='/'>Home</a></nav></body></html>"))
    srv.route("/slow", Route(hang=True))
    items = [
        {"title": "Gone", "link": srv.url("/gone"), "description": "The gone story, in brief."},
        {"title": "Empty", "link": srv.url("/empty"), "description": "The empty story, in brief."},
        {"title": "Slow", "link": srv.url("/slow"), "description": "The slow story, in brief."},
        {"title": "Nothing", "link": srv.url("/gone?x=1")},
    ]
    feed = srv.feed("/feed.xml", "F", items)
    arts, errors = split(list(url_articles(feed, settings(tmp_path), live)))
    assert sorted(x.body for x in arts) == ["The empty story, in brief.", "The gone story, in brief.",
                                            "The slow story, in brief."]
    assert len(errors) == 4
    assert any(srv.url("/gone") in e and "HTTP 404" in e and "feed's summary instead" in e for e in errors)
    assert any(srv.url("/empty") in e and "feed's summary instead" in e for e in errors)
    assert any(srv.url("/slow") in e and "timed out" in e for e in errors)
    assert any(srv.url("/gone?x=1") in e and "HTTP 404" in e and "summary" not in e for e in errors)


@pytest.mark.parametrize(("path", "route", "reason"), [
    ("/html.xml", Route(body=article_html("Not a feed", PARAS).encode(), content_type="application/rss+xml"),
     "not a feed: the document is HTML"),
    ("/broken.xml", Route(body=rss("T", [{"title": "x", "link": "http://e.example/x"}]).encode()[:-30],
                          content_type="application/rss+xml"), "malformed feed XML"),
    ("/missing.xml", Route(status=404), "HTTP 404"),
])
def test_bad_feeds_are_one_line_each(srv: FeedServer, live: LiveSettings, tmp_path: Path, path: str,
                                     route: Route, reason: str) -> None:
    url = srv.route(path, route)
    results = list(url_articles(url, settings(tmp_path), live))
    assert len(results) == 1 and isinstance(results[0], IngestError)
    assert results[0].one_line().startswith(("fetch error: " + url, "ingest error: " + url))
    assert reason in results[0].one_line()


def test_feed_cannot_make_the_indexer_read_files_or_probe_the_network(srv: FeedServer, live: LiveSettings,
                                                                      tmp_path: Path) -> None:
    port = srv.base.rsplit(":", 1)[1]
    srv.page("/admin", "Internal admin", ["Top secret internal numbers that must never be indexed."])
    items = [
        {"title": "f", "link": "file:///etc/passwd", "description": "Summary f."},
        {"title": "p", "link": "http://10.1.2.3/x", "description": "Summary p."},
        {"title": "m", "link": "http://169.254.169.254/latest/meta-data/", "description": "Summary m."},
        {"title": "l", "link": f"http://localhost:{port}/admin", "description": "Summary l."},
        {"title": "i", "link": srv.url("/admin"), "description": "Summary i."},
    ]
    feed = srv.feed("/feed.xml", "Hostile", items)  # the operator named this feed: it is fetched
    arts, errors = split(list(url_articles(feed, settings(tmp_path, allow_private=False), live)))
    assert srv.hits["/feed.xml"] == 1 and srv.hits["/admin"] == 0
    assert sorted(a.body for a in arts) == ["Summary f.", "Summary i.", "Summary l.", "Summary m.",
                                            "Summary p."]
    assert not any("secret" in a.body for a in arts)
    joined = "\n".join(errors)
    for reason in ("scheme 'file'", "private address 10.1.2.3", "link-local address 169.254.169.254",
                   "loopback address 127.0.0.1"):
        assert reason in joined


def test_file_urls_refused_even_when_named_by_the_operator(tmp_path: Path, live: LiveSettings) -> None:
    (results,) = [list(url_articles("file:///etc/passwd", settings(tmp_path), live))]
    assert len(results) == 1 and "scheme 'file'" in results[0].one_line()  # type: ignore[union-attr]


def test_feed_file_and_article_url_sources(srv: FeedServer, live: LiveSettings, tmp_path: Path) -> None:
    page = srv.page("/story", "Flood closes bridge", PARAS)
    feed_file = tmp_path / "saved.rss"
    feed_file.write_text(rss("Saved", [{"title": "Flood", "link": page, "description": "s"}]))
    arts, errors = split(list(url_articles(str(feed_file), settings(tmp_path), live)))
    assert [a.id for a in arts] == [page] and not errors and arts[0].source
    arts, errors = split(list(url_articles(page, settings(tmp_path), live)))
    assert [a.title for a in arts] == ["Flood closes bridge"] and not errors
    _, errors = split(list(url_articles(str(tmp_path / "nope.xml"), settings(tmp_path), live)))
    assert errors and "unreadable file (No such file or directory)" in errors[0]


@pytest.mark.parametrize(("charset", "header", "meta"), [
    ("windows-1251", True, False), ("koi8-r", False, True), ("shift_jis", False, True),
    ("iso-8859-1", True, True),
])
def test_non_utf8_pages(srv: FeedServer, live: LiveSettings, tmp_path: Path, charset: str, header: bool,
                        meta: bool) -> None:
    words = {"windows-1251": "Паводок закрыл мост", "koi8-r": "Паводок закрыл мост",
             "shift_jis": "洪水で橋が閉鎖された", "iso-8859-1": "Crue: le pont fermé à Zürich"}[charset]
    paras = [f"{words}. {p}" for p in PARAS]
    url = srv.page("/enc", words, paras, charset=charset, header_charset=header, meta_charset=meta)
    arts, errors = split(list(url_articles(url, settings(tmp_path), live)))
    assert not errors and words in arts[0].body and "\ufffd" not in arts[0].body


def test_dns_answer_that_changes_after_the_check_is_refused_at_connect(srv: FeedServer,
                                                                       live: LiveSettings) -> None:
    """DNS rebinding: the name looks public when checked, then points at loopback."""
    port = int(srv.base.rsplit(":", 1)[1])
    srv.route("/secret", Route(body=b"internal"))
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, _port: int) -> list[str]:
        return next(answers, ["127.0.0.1"])

    with Fetcher(live, allow_private=False, resolve=rebinding) as fetcher, \
            pytest.raises(FetchError, match="loopback"):
        fetcher.get(f"http://rebind.example:{port}/secret", trusted=False)
    assert srv.hits["/secret"] == 0


def test_a_non_ascii_etag_is_not_echoed_and_never_crashes_the_next_fetch(srv: FeedServer,
                                                                         live: LiveSettings) -> None:
    latin = {"ETag": 'W/"\u00e9t\u00e9"', "Last-Modified": "lundi \u00e9t\u00e9"}
    srv.route("/latin.xml", Route(body=b"<rss/>", validators=False, headers=latin))
    url = srv.url("/latin.xml")
    with Fetcher(live) as fetcher:
        first = fetcher.get(url, trusted=True)
        # what an older watch state may still hold: sent again, it must not crash the round
        again = fetcher.get(url, trusted=True, etag='W/"\u00e9t\u00e9"', last_modified="l\u00e9 1")
    assert first.status == 200 and first.etag is None and first.last_modified is None
    assert again.status == 200 and again.content == b"<rss/>"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_feed_file_that_is_no_regular_file_is_refused_at_once(tmp_path: Path, live: LiveSettings,
                                                               kind: str) -> None:
    import os

    path = tmp_path / "f.xml"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block forever
    else:
        path.symlink_to("/dev/zero")  # reading it would never end
    arts, errors = split(list(url_articles(str(path), settings(tmp_path), live)))
    assert arts == [] and errors == [f"ingest error: {path}: not a regular file"]


def _hanging_dns(host: str, port: int) -> list[str]:
    time.sleep(30)  # a resolver that never answers in time
    return ["127.0.0.1"]


def test_a_dns_lookup_that_hangs_is_cut_off_at_the_deadline(
    srv: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeout = 1.0
    live = LiveSettings(politeness_delay=0, fetch_timeout=timeout)
    port = int(srv.base.rsplit(":", 1)[1])
    url = f"http://slow-dns.example:{port}/feed.xml"
    # an operator's URL: the connect's own lookup
    monkeypatch.setattr("index.sources.urlpolicy.resolve_host", _hanging_dns)
    started = time.monotonic()
    with Fetcher(live) as fetcher, pytest.raises(FetchError) as info:
        fetcher.get(url, trusted=True)
    assert time.monotonic() - started < timeout + DEADLINE_SLACK
    assert info.value.one_line() == f"fetch error: {url}: timed out after 1 s"
    # a feed item's URL: the address check's lookup
    started = time.monotonic()
    with Fetcher(live, allow_private=False, resolve=_hanging_dns) as fetcher, \
            pytest.raises(FetchError) as info:
        fetcher.get(url, trusted=False)
    assert time.monotonic() - started < timeout + DEADLINE_SLACK
    assert "took longer than 1 s" in info.value.one_line() and len(info.value.one_line().splitlines()) == 1
