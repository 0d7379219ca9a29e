"""The versioned on-disk index: the one typed store interface (see ARCHITECTURE.md).

Why versions instead of in-place updates: a reader (the bot) never sees a half-written index,
a SIGKILL at any moment leaves ``CURRENT`` on a complete version, and a reader opened on an
old version keeps working until it chooses to reopen.

Modules: :mod:`~index.store.protocols` (StoreReader, StoreWriter and the data types),
:mod:`~index.store.layout` (paths, CURRENT, version names, lock, fsync),
:mod:`~index.store.metadata` (SQL), :mod:`~index.store.vectors` (FAISS),
:mod:`~index.store.lexical` (BM25), :mod:`~index.store.facets` (date/source filters),
:mod:`~index.store.reader` (IndexReader), :mod:`~index.store.writer` (IndexWriter,
StagedVersion), :mod:`~index.store.versions` (make_room, rollback),
:mod:`~index.store.diskspace`, :mod:`~index.store.verify`; :mod:`~index.store.backend` picks
the backend (``NEWSBOT_BACKEND``: these files, or Milvus collections, :mod:`index.store.milvus`)
and is how the pipeline, the CLI and retrieval open an index.  Nothing outside this package
runs SQL, FAISS, bm25s or pymilvus on an index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.store.backend import (
    FaissSession,
    StoreSession,
    is_milvus,
    kept_store_versions,
    open_store_reader,
    open_store_writer,
    published_version,
    require_published_store,
    rollback_store,
    strict_published_version,
    verify_store,
)
from index.store.backend import require_published_store as require_published
from index.store.diskspace import dir_size, free_bytes, is_disk_full, megabytes
from index.store.layout import (
    BM25_CHUNKS,
    BM25_SENTENCES,
    CHUNKS_FAISS,
    CURRENT_FILE,
    FORMAT_VERSION,
    LOCK_FILE,
    MANIFEST_FILE,
    META_FILE,
    SENTENCES_FAISS,
    TMP_PREFIX,
    VERSIONS_DIR,
    IndexLock,
    check_model,
    current_or_none,
    list_versions,
    load_manifest,
    new_version_name,
    read_current,
    require_index_folder,
    version_path,
    version_seq,
    versions_dir,
    write_current,
)
from index.store.metadata import SCHEMA, text_hash
from index.store.protocols import (
    ChunkRow,
    IndexAbout,
    IndexType,
    SentenceRow,
    SourceCount,
    StagedChanges,
    StoredArticleState,
    StoreReader,
    StoreWriter,
    Table,
)
from index.store.reader import IndexReader, index_summary_json
from index.store.vectors import build_faiss, faiss, faiss_ids, resolve_index_type
from index.store.verify import VerifyResult, verify_index
from index.store.versions import (
    MIN_ROOM_BYTES,
    ROOM_FACTOR,
    RollbackResult,
    VersionInfo,
    kept_versions,
    make_room,
    rollback,
    room_needed,
)
from index.store.writer import IndexWriter, StagedVersion

if TYPE_CHECKING:

    def _reads(reader: IndexReader) -> StoreReader:
        """mypy: the FAISS + SQLite + bm25s store implements the protocols."""
        return reader

    def _writes(writer: IndexWriter) -> StoreWriter[StagedVersion]:
        return writer

    from index.store.milvus.reader import MilvusReader
    from index.store.milvus.staging import MilvusStaged
    from index.store.milvus.writer import MilvusWriter

    def _reads_milvus(reader: MilvusReader) -> StoreReader:
        """mypy: the Milvus backend implements the same protocols."""
        return reader

    def _stages_milvus(staged: MilvusStaged) -> StagedChanges:
        return staged

    def _writes_milvus(writer: MilvusWriter) -> StoreSession:
        return writer

    def _writes_faiss(writer: FaissSession) -> StoreSession:
        return writer


__all__ = [
    "BM25_CHUNKS",
    "BM25_SENTENCES",
    "CHUNKS_FAISS",
    "CURRENT_FILE",
    "FORMAT_VERSION",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "META_FILE",
    "MIN_ROOM_BYTES",
    "ROOM_FACTOR",
    "SCHEMA",
    "SENTENCES_FAISS",
    "TMP_PREFIX",
    "VERSIONS_DIR",
    "ChunkRow",
    "FaissSession",
    "IndexAbout",
    "IndexLock",
    "IndexReader",
    "IndexType",
    "IndexWriter",
    "RollbackResult",
    "SentenceRow",
    "SourceCount",
    "StagedChanges",
    "StagedVersion",
    "StoreReader",
    "StoreSession",
    "StoreWriter",
    "StoredArticleState",
    "Table",
    "VerifyResult",
    "VersionInfo",
    "build_faiss",
    "check_model",
    "current_or_none",
    "dir_size",
    "faiss",
    "faiss_ids",
    "free_bytes",
    "index_summary_json",
    "is_disk_full",
    "is_milvus",
    "kept_store_versions",
    "kept_versions",
    "list_versions",
    "load_manifest",
    "make_room",
    "megabytes",
    "new_version_name",
    "open_store_reader",
    "open_store_writer",
    "published_version",
    "read_current",
    "require_index_folder",
    "require_published",
    "require_published_store",
    "resolve_index_type",
    "rollback",
    "rollback_store",
    "room_needed",
    "strict_published_version",
    "text_hash",
    "verify_index",
    "verify_store",
    "version_path",
    "version_seq",
    "versions_dir",
    "write_current",
]
