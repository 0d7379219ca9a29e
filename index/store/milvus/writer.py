""":class:`MilvusWriter`: the single writer of a Milvus index (a ``StoreWriter``).

It holds the index directory's ``.lock`` (as the FAISS writer does), stages the current
version's rows (:class:`~index.store.milvus.staging.MilvusStaged`), writes a new version's
collections and then publishes it (:mod:`index.store.milvus.pointer`): a SIGKILL at any
moment leaves the previous, complete version published, and the next writer drops the unfinished collections.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType

from pymilvus import MilvusClient, MilvusException

from index.errors import IndexCorruptError
from index.models import Manifest, ModelInfo
from index.store.layout import FORMAT_VERSION, LOCK_FILE, IndexLock, require_index_folder, utc_now
from index.store.milvus.catalog import (
    drop_collection,
    drop_version,
    list_versions,
    new_version_name,
    unfinished_collections,
)
from index.store.milvus.connection import MilvusTarget, connect, disconnect, lite_files, one_line
from index.store.milvus.pointer import current_version, publish_version
from index.store.milvus.publish import read_manifest, write_version
from index.store.milvus.schema import PARTS, part_name
from index.store.milvus.staging import MilvusStaged, PreviousVersion
from index.store.protocols import IndexType, StagedChanges


class MilvusWriter:
    """The single writer of a Milvus index (use as a context manager)."""

    def __init__(self, index_dir: Path, target: MilvusTarget, keep_versions: int = 2,
                 lock_timeout: float = 3.0) -> None:
        self.index_dir = Path(index_dir)
        self.target = target
        self.keep_versions = keep_versions
        self._lock = IndexLock(self.index_dir, lock_timeout)
        self._created = False
        self._client: MilvusClient | None = None

    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            raise RuntimeError("MilvusWriter used outside its with-block")
        return self._client

    def __enter__(self) -> MilvusWriter:
        require_index_folder(self.index_dir)
        self._created = not self.index_dir.exists()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self._client = connect(self.target)
            for name in unfinished_collections(self._client, self.target.prefix):
                drop_collection(self._client, name)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()

    def _close(self) -> None:
        unused = False
        if self._client is not None:
            with contextlib.suppress(Exception):
                unused = self._created and current_version(self._client, self.target) is None
            disconnect(self.target, self._client)
            self._client = None
        # A first build that published nothing leaves no index folder behind (as with FAISS).
        if unused and self.target.is_lite and Path(self.target.uri).parent == self.index_dir.absolute():
            for path in lite_files(Path(self.target.uri)):
                with contextlib.suppress(OSError):
                    path.unlink()
        self._lock.release()
        if unused:
            with contextlib.suppress(OSError):
                (self.index_dir / LOCK_FILE).unlink()
                self.index_dir.rmdir()

    # -- versions -------------------------------------------------------------------------
    def current(self) -> tuple[str | None, Manifest | None]:
        name = current_version(self.client, self.target)
        if name is None:
            return None, None
        manifest, _ = read_manifest(self.client, self.target.prefix, name)
        return name, manifest

    def stage(self, fresh_if_broken: bool = False) -> MilvusStaged:
        """The current version's rows, to be changed; ``fresh_if_broken`` (a build) starts from
        nothing when the current version cannot be read."""
        client = self.client
        try:
            name = current_version(client, self.target)
            if name is None:
                return MilvusStaged(None)
            manifest, next_ids = read_manifest(client, self.target.prefix, name)
            for part in PARTS:
                client.load_collection(part_name(self.target.prefix, name, part))
            return MilvusStaged.load(PreviousVersion(client, self.target.prefix, name, manifest), next_ids)
        except (MilvusException, IndexCorruptError, KeyError, ValueError) as exc:
            if not fresh_if_broken:
                if isinstance(exc, IndexCorruptError):
                    raise
                raise IndexCorruptError(f"{self.target.describe()}: the current version is unreadable "
                                        f"({one_line(exc)})") from None
            return MilvusStaged(None)

    def publish(self, staged: StagedChanges, model: ModelInfo, index_type: IndexType,
                max_chunk_tokens: int) -> Manifest:
        """Write ``staged`` as a new version, then publish it (atomically)."""
        if not isinstance(staged, MilvusStaged):
            raise TypeError("MilvusWriter publishes what its own stage() returned")
        client = self.client
        if index_type != "flat" and self.target.is_lite:
            # Milvus Lite 2.5 builds no HNSW, and its IVF_FLAT loses hits past ~65,000 rows
            # (schema._DENSE): on Lite every index is exact. The manifest records what was built.
            index_type = "flat"
        version = new_version_name(client, self.target.prefix)
        n_articles, n_chunks, n_sentences = staged.counts()
        sources = sorted({a.article.source for a in staged.articles.values() if a.article.source})
        manifest = Manifest(
            format_version=FORMAT_VERSION, version=version, created_at=utc_now(), model=model,
            index_type=index_type, articles=n_articles, chunks=n_chunks, sentences=n_sentences,
            max_chunk_tokens=max_chunk_tokens, sources=sources,
        )
        try:
            write_version(client, self.target.prefix, staged, manifest)
        except BaseException:
            with contextlib.suppress(Exception):
                drop_version(client, self.target.prefix, version)
            raise
        publish_version(client, self.target, version)
        self.prune()
        return manifest

    def prune(self) -> None:
        """Keep the current version and the ``keep_versions`` newest others; drop the rest."""
        current = current_version(self.client, self.target)
        others = [v for v in list_versions(self.client, self.target.prefix) if v != current]
        for name in others[: max(0, len(others) - self.keep_versions)]:
            self.drop_version(name)

    def drop_version(self, name: str) -> None:
        if name == current_version(self.client, self.target):
            raise ValueError(f"refusing to drop the current version {name}")
        drop_version(self.client, self.target.prefix, name)

    def rollback_to(self, name: str) -> None:
        publish_version(self.client, self.target, name)
