"""Handing URLs and feed files over to :mod:`index.sources.pages`, imported lazily.

Kept apart from :mod:`index.sources.urls` (which :mod:`pages` imports for ``is_url``) so the
two do not import each other.
"""

from __future__ import annotations

from collections.abc import Iterator

from index.errors import IngestError
from index.models import Article
from index.settings import IndexSettings
from index.sources.html import parse_html


def iter_remote(source: str, settings: IndexSettings) -> Iterator[Article | IngestError]:
    """Articles of a feed/article URL or a feed file, via :mod:`index.sources.pages` (imported
    lazily: it pulls in the HTTP client, and a build without it still indexes local files)."""
    try:
        from index.sources.pages import iter_url_articles
    except ImportError:
        yield IngestError(source, "feeds and URLs are not supported in this build")
        return
    found = False
    for item in iter_url_articles(source, settings, parse_html=parse_html):
        found = True
        yield item
    if not found:  # a well-formed feed without one item: a line, as for a JSON empty list
        yield IngestError(source, "no articles (the feed has no items)")
