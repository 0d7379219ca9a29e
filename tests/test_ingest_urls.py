"""One ``is_url`` (``index.sources.urls``) for files, URLs and the watcher.

``index/ingest/remote.py`` said a source is a URL when it starts with http:// or https://;
``index/live/sources.py`` when ``urlsplit`` finds a scheme of two letters or more. The rule now:
a source is a URL when it starts with ``scheme://`` (any scheme, as written), so
``file:///etc/passwd`` is never looked up as a path, and each caller refuses the schemes it does
not fetch (``is_web_url``). These tests are the cases where the two disagreed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index.errors import IngestError
from index.settings import IndexSettings
from index.sources import count_articles, iter_articles
from index.sources.urls import is_url, is_web_url, url_scheme


def test_one_function_everywhere() -> None:
    import index.sources
    from index.live import watch
    from index.sources import pages

    assert index.sources.is_url is is_url and pages.is_url is is_url and watch.is_url is is_url


@pytest.mark.parametrize(
    ("source", "url", "web"),
    [
        ("https://news.example/feed", True, True),
        ("HTTP://NEWS.EXAMPLE/", True, True),
        # ingest said "not a URL" (a path to look up); live said URL: it is one, refused by scheme
        ("file:///etc/passwd", True, False),
        ("ftp://x.example/a.rss", True, False),
        ("gopher://x.example/", True, False),
        # live said "not a URL" (one letter); ingest refused it as a scheme: a URL, refused
        ("c://x", True, False),
        # live said URL (urlsplit strips the space); ingest said path: it is a path (no such file)
        (" http://x.example/", False, False),
        ("news/http://x.example/", False, False),
        ("http:/x.example", False, False),
        ("feeds/world.rss", False, False),
        ("", False, False),
    ],
)
def test_the_cases_where_the_two_rules_disagreed(source: str, url: bool, web: bool) -> None:
    assert (is_url(source), is_web_url(source)) == (url, web)


def test_url_scheme_is_as_written() -> None:
    assert [url_scheme(s) for s in ("FILE:///x", "svn+ssh://h/r", "a/b")] == ["FILE", "svn+ssh", None]


def _errors(sources: list[str]) -> list[str]:
    return [str(e) for e in iter_articles(sources, IndexSettings()) if isinstance(e, IngestError)]


def test_ingest_refuses_other_schemes_even_with_glob_characters(tmp_path: Path) -> None:
    # was "no files match this pattern": the old is_url took it for a path
    assert _errors(["ftp://x.example/*.rss"]) == [
        "ftp://x.example/*.rss: unsupported URL scheme 'ftp': only http and https"
    ]
    assert _errors(["c://x"]) == ["c://x: unsupported URL scheme 'c': only http and https"]
    assert _errors([" http://x.example/"]) == [" http://x.example/: no such file or directory"]


def test_a_url_has_no_known_article_count(tmp_path: Path) -> None:
    assert count_articles(["file:///etc/passwd"], IndexSettings()) is None


def test_a_feeds_file_keeps_urls_of_any_scheme_as_they_are(tmp_path: Path) -> None:
    from index.live.watch import read_feeds_file

    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://a.example/rss\nfile:///etc/feed.rss\nlocal.rss\n", encoding="utf-8")
    expected = ["https://a.example/rss", "file:///etc/feed.rss", str(tmp_path / "local.rss")]
    assert read_feeds_file(feeds) == expected


def test_sources_do_not_import_the_watcher_or_the_pipeline() -> None:
    # index.sources turns sources into articles; index.live.watch and index.pipeline sit on top
    # of it and import it, never the reverse (#10)
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, index.sources;"
        "[importlib.import_module('index.sources.' + m.name)"
        " for m in pkgutil.iter_modules(index.sources.__path__)];"
        "print(sorted(m for m in sys.modules"
        " if m == 'index.live' or m.startswith(('index.live.', 'index.pipeline'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
