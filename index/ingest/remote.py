"""URLs and feed files belong to ``index.live``; this is the one place that hands them over."""

from __future__ import annotations

from collections.abc import Iterator

from index.errors import IngestError
from index.ingest.html import parse_html
from index.live.inputs import is_url, is_web_url
from index.models import Article
from index.settings import IndexSettings

__all__ = ["is_url", "is_web_url", "iter_remote"]


def iter_remote(source: str, settings: IndexSettings) -> Iterator[Article | IngestError]:
    """Articles of a feed/article URL or a feed file, via ``index.live`` (imported lazily:
    it pulls in the HTTP client, and a build without it still indexes local files)."""
    try:
        from index.live.sources import iter_url_articles
    except ImportError:
        yield IngestError(source, "feeds and URLs are not supported in this build")
        return
    found = False
    for item in iter_url_articles(source, settings, parse_html=parse_html):
        found = True
        yield item
    if not found:  # a well-formed feed without one item: a line, as for a JSON empty list
        yield IngestError(source, "no articles (the feed has no items)")
