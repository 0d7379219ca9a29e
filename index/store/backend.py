"""The one place that picks the store backend (``NEWSBOT_BACKEND=faiss|milvus``).

The pipeline, ``watch``, the CLI and retrieval's ``Answerer`` open the index only through
:func:`open_store_reader` and :func:`open_store_writer` (and ask :func:`published_version`,
:func:`verify_store`, :func:`rollback_store`), so they work unchanged on either backend:

* ``faiss``: files in the index directory (:class:`~index.store.reader.IndexReader`,
  :class:`~index.store.writer.IndexWriter`);
* ``milvus``: collections in Milvus (:mod:`index.store.milvus`); ``NEWSBOT_MILVUS_URI`` empty
  means a Milvus Lite file ``<index_dir>/milvus.db``.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from index.errors import IndexNotFoundError
from index.models import Manifest, ModelInfo
from index.settings import IndexSettings, load_index_settings
from index.store.layout import current_or_none, read_current
from index.store.protocols import IndexType, StagedChanges, StoreReader

if TYPE_CHECKING:
    from index.store.milvus.connection import MilvusTarget
    from index.store.verify import VerifyResult
    from index.store.versions import RollbackResult, VersionInfo
    from index.store.writer import IndexWriter


class StoreSession(Protocol):
    """The writer as the pipeline uses it: one context (holding the lock), stage, publish."""

    @property
    def index_dir(self) -> Path: ...

    def __enter__(self) -> StoreSession: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def stage(self, fresh_if_broken: bool = False) -> StagedChanges: ...

    def publish(self, staged: StagedChanges, model: ModelInfo, index_type: IndexType,
                max_chunk_tokens: int) -> Manifest: ...

    def drop_version(self, name: str) -> None: ...


class FaissSession:
    """:class:`IndexWriter` as a :class:`StoreSession`."""

    def __init__(self, writer: IndexWriter) -> None:
        self.writer = writer

    @property
    def index_dir(self) -> Path:
        return self.writer.index_dir

    def __enter__(self) -> FaissSession:
        self.writer.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.writer.__exit__(et, ev, tb)

    def stage(self, fresh_if_broken: bool = False) -> StagedChanges:
        return self.writer.stage(fresh_if_broken)

    def publish(self, staged: StagedChanges, model: ModelInfo, index_type: IndexType,
                max_chunk_tokens: int) -> Manifest:
        from index.store.writer import StagedVersion

        if not isinstance(staged, StagedVersion):
            raise TypeError("IndexWriter publishes what its own stage() returned")
        return self.writer.publish(staged, model, index_type, max_chunk_tokens)

    def drop_version(self, name: str) -> None:
        self.writer.drop_version(name)


def _settings(settings: IndexSettings | None) -> IndexSettings:
    return settings if settings is not None else load_index_settings()


def is_milvus(settings: IndexSettings | None = None) -> bool:
    return _settings(settings).backend == "milvus"


def milvus_target(index_dir: Path, settings: IndexSettings | None = None) -> MilvusTarget:
    from index.store.milvus.connection import target_for

    s = _settings(settings)
    return target_for(Path(index_dir), s.milvus_uri, s.milvus_token, s.milvus_prefix)


def open_store_reader(index_dir: Path, settings: IndexSettings | None = None,
                      expected_model: ModelInfo | None = None, version: str | None = None) -> StoreReader:
    """The published (or a given) version of the configured backend, read-only."""
    if is_milvus(settings):
        from index.store.milvus.reader import MilvusReader

        return MilvusReader.open(str(index_dir), milvus_target(index_dir, settings), expected_model, version)
    from index.store.reader import IndexReader

    return IndexReader.open(Path(index_dir), expected_model, version)


def open_store_writer(index_dir: Path, settings: IndexSettings | None = None,
                      lock_timeout: float = 3.0) -> StoreSession:
    """The single writer of the configured backend (enter it to take the lock)."""
    s = _settings(settings)
    if s.backend == "milvus":
        from index.store.milvus.writer import MilvusWriter

        return MilvusWriter(Path(index_dir), milvus_target(index_dir, s), s.keep_versions, lock_timeout)
    from index.store.writer import IndexWriter

    return FaissSession(IndexWriter(Path(index_dir), s.keep_versions, lock_timeout))


def published_version(index_dir: Path, settings: IndexSettings | None = None) -> str | None:
    """The published version's name, None when nothing is published (a FAISS ``CURRENT``
    that cannot be read counts as none, as ``current_or_none`` does)."""
    if not is_milvus(settings):
        return current_or_none(Path(index_dir))
    from index.store.milvus.connection import connect, disconnect
    from index.store.milvus.pointer import current_version

    target = milvus_target(index_dir, settings)
    if target.is_lite and not Path(target.uri).exists():
        return None
    client = connect(target)
    try:
        return current_version(client, target)
    finally:
        disconnect(target, client)


def require_published_store(index_dir: Path, settings: IndexSettings | None = None) -> str:
    """The published version; IndexNotFoundError when there is none (cheap: run it before
    models load)."""
    if not is_milvus(settings):
        from index.store.layout import require_published

        return require_published(Path(index_dir))
    name = published_version(index_dir, settings)
    if name is None:
        target = milvus_target(index_dir, settings)
        raise IndexNotFoundError(f"no index in {target.describe()}; run `newsbot index build` first")
    return name


def strict_published_version(index_dir: Path, settings: IndexSettings | None = None) -> str | None:
    """Like :func:`published_version`, but a garbled FAISS ``CURRENT`` raises."""
    if not is_milvus(settings):
        return read_current(Path(index_dir))
    return published_version(index_dir, settings)


def verify_store(index_dir: Path, settings: IndexSettings | None = None) -> VerifyResult:
    if is_milvus(settings):
        from index.store.milvus.checks import verify_milvus

        return verify_milvus(milvus_target(index_dir, settings))
    from index.store.verify import verify_index

    return verify_index(Path(index_dir))


def rollback_store(index_dir: Path, version: str | None = None, settings: IndexSettings | None = None,
                   lock_timeout: float = 3.0) -> RollbackResult:
    if is_milvus(settings):
        from index.store.milvus.checks import rollback_milvus

        return rollback_milvus(Path(index_dir), milvus_target(index_dir, settings), version, lock_timeout)
    from index.store.versions import rollback

    return rollback(Path(index_dir), version, lock_timeout)


def kept_store_versions(index_dir: Path, settings: IndexSettings | None = None) -> list[VersionInfo]:
    if not is_milvus(settings):
        from index.store.versions import kept_versions

        return kept_versions(Path(index_dir))
    from index.store.milvus.checks import kept_milvus_versions
    from index.store.milvus.connection import connect, disconnect

    target = milvus_target(index_dir, settings)
    client = connect(target, create=False)
    try:
        return kept_milvus_versions(client, target)
    finally:
        disconnect(target, client)


__all__ = ["FaissSession", "StoreSession", "is_milvus", "kept_store_versions",
           "milvus_target", "open_store_reader", "open_store_writer", "published_version",
           "require_published_store", "rollback_store", "strict_published_version", "verify_store"]
