"""How a round publishes: the :class:`Publisher` protocol (one call, one new version) and what
it reports back (:class:`PublishResult`); the default is ``index.pipeline.apply_changes``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from index.embedding import Embedder
from index.models import Article
from index.settings import IndexSettings


class PublishResult(Protocol):
    """What a round reads back from its publish (``index.pipeline.BuildReport`` is one)."""

    @property
    def version(self) -> str | None: ...  # the version now current
    @property
    def published(self) -> bool: ...  # False: nothing changed, no new version
    @property
    def added(self) -> int: ...
    @property
    def replaced(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def removed(self) -> int: ...
    @property
    def failures(self) -> Sequence[str]: ...  # one line per article not indexed


class Publisher(Protocol):
    """Publishes one round's changes as one new version (default: ``index.pipeline.apply_changes``)."""

    def __call__(self, upserts: Sequence[Article], removals: Sequence[str], settings: IndexSettings,
                 embedder: Embedder, *, max_age: timedelta | None, now: datetime) -> PublishResult: ...


def default_publisher(upserts: Sequence[Article], removals: Sequence[str], settings: IndexSettings,
                       embedder: Embedder, *, max_age: timedelta | None, now: datetime) -> PublishResult:
    # Imported here, not at the top: the pipeline pulls in the store (FAISS, bm25s), which
    # watch's pure parts (feeds files, durations, selection) do not need.
    from index.pipeline import apply_changes

    return apply_changes(upserts, removals, settings, embedder, max_age=max_age, now=now)
