"""Turning sources (folders, files, URLs, feeds) into Articles.

Layout: :mod:`files` (discovery, the bounded reader), :mod:`plaintext` and :mod:`lines`
(text scrapes), :mod:`html`, :mod:`records` (JSON/JSONL), :mod:`dates`, :mod:`urls` (what a
source names, ``is_url``), :mod:`remote` (hands URLs and feed files to :mod:`pages`), :mod:`pages`
(``iter_url_articles``: feeds and article pages), :mod:`feeds` (pure feed parsing),
:mod:`fetch` (the HTTP client), :mod:`urlpolicy` (SSRF policy, URL normalisation), :mod:`deadline`
(one deadline per request), :mod:`encodings`, :mod:`settings` (``LiveSettings``: fetch
limits and politeness). Nothing here imports ``index.live`` (the ``watch`` updater) or
``index.pipeline``; they import this package.

``iter_articles`` is the one entry point: it yields an Article for each article found and
an IngestError for each input it had to skip (naming the file, line and reason), and never
raises for one bad input, so one broken file does not stop a build.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from index.errors import IngestError
from index.models import Article
from index.settings import IndexSettings
from index.sources.dates import parse_date
from index.sources.files import (
    FEED_SUFFIXES,
    JSONL_SUFFIXES,
    SUPPORTED_SUFFIXES,
    iter_file,
    suffix_of,
    unsupported_in_folder,
    walk_folder,
)
from index.sources.html import parse_html
from index.sources.plaintext import parse_plaintext
from index.sources.records import record_to_article
from index.sources.remote import iter_remote
from index.sources.urls import is_url, is_web_url, url_scheme

__all__ = [
    "count_articles",
    "expand_globs",
    "is_url",
    "iter_articles",
    "parse_date",
    "parse_html",
    "parse_plaintext",
    "record_to_article",
]


_GLOB_CHARS = re.compile(r"[*?\[]")


def _is_unmatched_glob(source: str) -> bool:
    return bool(_GLOB_CHARS.search(source)) and not is_url(source) and not Path(source).exists()


def expand_globs(sources: Sequence[str]) -> list[str]:
    """Sources with shell patterns (``junk/*.md``, ``news/**/*.jsonl``) expanded, sorted, in
    place; a path that exists as written is kept as is, as is a pattern matching nothing (it
    becomes one "no files match" line). Quoted patterns reach us unexpanded from the shell."""
    out: list[str] = []
    for source in map(str, sources):
        if _GLOB_CHARS.search(source) and not is_url(source) and not Path(source).exists():
            matches = sorted(glob.glob(str(Path(source).expanduser()), recursive=True))
            out.extend(matches or [source])
        else:
            out.append(source)
    return out


def _iter_path(path: Path, settings: IndexSettings, origin: str) -> Iterator[Article | IngestError]:
    if suffix_of(path) in FEED_SUFFIXES:
        yield from iter_remote(origin, settings)
    else:
        yield from iter_file(path, settings.max_file_bytes, origin)


def iter_articles(sources: Sequence[str], settings: IndexSettings) -> Iterator[Article | IngestError]:
    """Articles of every source, in order; an IngestError for each input that was skipped.

    A source is a URL (feed or article page), a folder (searched recursively; files of
    unsupported types inside it are skipped silently) or a file (.txt/.md scrapes,
    .html pages, .json, .jsonl, and .rss/.atom/.xml feeds). A named file of an unsupported
    type, or a path that does not exist, is reported and the other sources still ingested.
    """
    for source in expand_globs(sources):
        if is_web_url(source):
            yield from iter_remote(source, settings)
            continue
        if is_url(source):  # file://, ftp://, gopher://...: refused, never read as a path
            yield IngestError(source, f"unsupported URL scheme {url_scheme(source)!r}: only http and https")
            continue
        if _is_unmatched_glob(source):
            yield IngestError(source, "no files match this pattern")
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            for file in walk_folder(path):
                yield from _iter_path(file, settings, str(file))
            yield from unsupported_in_folder(path)
        elif not path.exists():
            yield IngestError(source, "no such file or directory")
        elif suffix_of(path) not in SUPPORTED_SUFFIXES:
            yield IngestError(source, f"unsupported file type {path.suffix or '(no extension)'!r}")
        else:
            yield from _iter_path(path, settings, source)


def count_articles(sources: Sequence[str], settings: IndexSettings) -> int | None:
    """How many articles ``iter_articles`` will yield, for a progress total; None when that
    cannot be known without parsing (URLs, feeds, JSON documents).

    A text or HTML file is one article, a JSONL file one per non-blank line. Unreadable files
    count as one: ``iter_articles`` yields one error line for them.
    """
    total = 0
    for source in expand_globs(sources):
        if _is_unmatched_glob(source):
            total += 1
            continue
        if is_url(str(source)):
            return None
        path = Path(source).expanduser()
        files = list(walk_folder(path)) if path.is_dir() else [path]
        for file in files:
            suffix = suffix_of(file)
            if suffix in FEED_SUFFIXES or suffix == ".json":
                return None
            total += _jsonl_lines(file, settings.max_file_bytes) if suffix in JSONL_SUFFIXES else 1
    return total


def _jsonl_lines(path: Path, max_bytes: int) -> int:
    try:
        if not path.is_file() or path.stat().st_size > max_bytes:
            return 1
        with path.open("rb") as fh:
            return max(1, sum(1 for line in fh if line.strip()))
    except OSError:
        return 1
