"""URLs and feed files belong to ``index.live``; this is the one place that hands them over."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from index.errors import IngestError
from index.models import Article
from index.settings import IndexSettings


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def print_note(line: str) -> None:
    """A note on stderr as it happens, like a skipped input's line, but no failure: it is
    not counted in the summary's ``failed`` and leaves the exit status alone."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def iter_remote(source: str, settings: IndexSettings) -> Iterator[Article | IngestError]:
    """Articles of a feed/article URL or a feed file, via ``index.live`` (imported lazily:
    it pulls in the HTTP client, and a build without it still indexes local files).
    Notes (e.g. an item indexed from the feed's text because it has no link) go to stderr."""
    try:
        from index.live.sources import iter_url_articles
    except ImportError:
        yield IngestError(source, "feeds and URLs are not supported in this build")
        return
    yield from iter_url_articles(source, settings, on_note=print_note)
