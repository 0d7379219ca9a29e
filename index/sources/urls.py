"""What a source names, and handing URLs and feed files over to :mod:`index.sources.pages`.

A source is a URL when it starts with ``scheme://`` (any scheme: ``file:///etc/passwd`` is a
URL to refuse, never a path to read); callers decide which schemes they fetch
(:func:`is_web_url`: http and https).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from index.errors import IngestError
from index.models import Article
from index.settings import IndexSettings
from index.sources.html import parse_html

#: ``scheme://`` at the start (RFC 3986 scheme characters), as written.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def url_scheme(source: str) -> str | None:
    """The scheme of a URL source as written (``"HTTPS"``, ``"file"``), None for a path."""
    m = _SCHEME.match(source)
    return m.group(1) if m else None


def is_url(source: str) -> bool:
    """Whether ``source`` names a URL (any scheme) rather than a local path."""
    return url_scheme(source) is not None


def is_web_url(source: str) -> bool:
    """Whether ``source`` is an http or https URL (the only ones fetched)."""
    scheme = url_scheme(source)
    return scheme is not None and scheme.lower() in ("http", "https")


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
