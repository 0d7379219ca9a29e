"""The inputs of ``build`` and ``add`` as the pipeline takes them: the articles of the named
sources (URLs fetched before the writer lock is taken), their count for the progress bar, a
label for messages, and the checks that need no model (:func:`preflight`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from index.errors import IngestError
from index.models import Article
from index.settings import IndexSettings
from index.store import IndexLock, require_index_folder


def ingest(sources: Sequence[str | Path], settings: IndexSettings) -> Iterator[Article | IngestError]:
    """The articles of ``sources``, in order. URLs and feed files are fetched here, eagerly,
    before the caller takes the writer lock: a slow server or a feed of many pages must not
    keep every other writer (``watch``, another ``add``) waiting while it downloads. Local
    files stay lazy, so a large folder is never held in memory."""
    from index.sources import iter_articles
    from index.sources.files import FEED_SUFFIXES
    from index.sources.urls import is_url

    names = [str(s) for s in sources]
    fetched = {
        name: list(iter_articles([name], settings))
        for name in dict.fromkeys(names)
        if is_url(name) or Path(name).suffix.lower() in FEED_SUFFIXES
    }

    def in_order() -> Iterator[Article | IngestError]:
        for name in names:
            if name in fetched:
                yield from fetched.pop(name, [])
            else:
                yield from iter_articles([name], settings)

    return in_order()


def expected_total(sources: Sequence[str | Path], settings: IndexSettings, progress: bool) -> int | None:
    from index.sources import count_articles

    return count_articles([str(s) for s in sources], settings) if progress else None


def sources_label(sources: Sequence[str | Path]) -> str:
    names = [str(s) for s in sources]
    return " ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")


def preflight(sources: Sequence[str | Path], settings: IndexSettings, lock_timeout: float = 3.0) -> None:
    """The checks that need no model, run before it loads (that takes seconds): the index
    folder is a folder and not locked by another writer, and at least one source exists.

    Raises the same one-line errors the build itself would, so a typo fails at once.
    """
    from index.sources import expand_globs
    from index.sources.urls import is_url, is_web_url, url_scheme

    index_dir = Path(settings.index_dir)
    require_index_folder(index_dir)
    if index_dir.is_dir():
        with IndexLock(index_dir, lock_timeout):
            pass
    expanded = expand_globs([str(s) for s in sources])
    def usable(source: str) -> bool:
        return is_web_url(source) or (not is_url(source) and Path(source).expanduser().exists())

    if not expanded or any(usable(s) for s in expanded):
        return
    refused = next((s for s in expanded if is_url(s)), None)
    if refused is not None:
        raise IngestError(refused, f"unsupported URL scheme {url_scheme(refused)!r}: only http and https; "
                          "the index was not changed")
    raise IngestError(sources_label(sources), "no such file or directory; the index was not changed")
