"""The write side: :class:`IndexWriter` (the one writer, holding the lock) and
:class:`StagedVersion` (a version being written in ``versions/.tmp-*``).

A writer builds a whole new version beside the current one, fsyncs it, renames it into
``versions/`` and then replaces ``CURRENT``: a SIGKILL at any moment leaves ``CURRENT`` on a
complete version.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from types import TracebackType

from index.errors import IndexCorruptError
from index.models import Manifest, ModelInfo
from index.store.layout import (
    BM25_CHUNKS,
    BM25_SENTENCES,
    CHUNKS_FAISS,
    CURRENT_FILE,
    FORMAT_VERSION,
    LOCK_FILE,
    META_FILE,
    SENTENCES_FAISS,
    IndexLock,
    current_or_none,
    fsync_path,
    fsync_tree,
    list_versions,
    load_manifest,
    new_tmp_path,
    new_version_name,
    read_current,
    require_index_folder,
    stale_tmp_paths,
    utc_now,
    version_path,
    versions_dir,
    write_current,
    write_manifest,
)
from index.store.lexical import build_lexical, lexical_docs
from index.store.metadata_writer import MetadataWriter, copy_metadata
from index.store.protocols import IndexType, Table
from index.store.vectors import build_faiss, write_faiss


class StagedVersion(MetadataWriter):
    """A version being written in ``versions/.tmp-*``: a writable copy of the metadata.

    Created by :meth:`IndexWriter.stage`; the pipeline deletes and inserts rows (the
    :class:`~index.store.metadata_writer.MetadataWriter` methods), then :meth:`finalize` builds
    FAISS + BM25 from the stored embeddings and writes the manifest.
    """

    def __init__(self, path: Path, previous: str | None, previous_manifest: Manifest | None) -> None:
        self.path = path
        self.previous = previous
        self.previous_manifest = previous_manifest
        super().__init__(path / META_FILE)

    def finalize(self, model: ModelInfo, index_type: IndexType, max_chunk_tokens: int,
                 version: str) -> Manifest:
        """Commit metadata, build FAISS + BM25 from stored vectors, write the manifest."""
        self.collect_garbage(model.name)
        self.commit(model)
        tables: tuple[tuple[Table, str], ...] = (("chunks", CHUNKS_FAISS), ("sentences", SENTENCES_FAISS))
        for table, faiss_name in tables:
            ids, vecs = self.vectors(table, model.name, model.dimension)
            index = build_faiss(ids, vecs, index_type, model.dimension)
            write_faiss(index, self.path / faiss_name)
            del vecs, index
        chunk_docs, sentence_docs = lexical_docs(self.sentence_texts(), self.chunk_spans())
        build_lexical(chunk_docs, self.path / BM25_CHUNKS)
        del chunk_docs
        build_lexical(sentence_docs, self.path / BM25_SENTENCES)
        n_articles, n_chunks, n_sentences = self.counts()
        sources = self.sources()
        self.close()
        manifest = Manifest(
            format_version=FORMAT_VERSION, version=version, created_at=utc_now(), model=model,
            index_type=index_type, articles=n_articles, chunks=n_chunks, sentences=n_sentences,
            max_chunk_tokens=max_chunk_tokens, sources=sources,
        )
        write_manifest(self.path, manifest)
        return manifest

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
        shutil.rmtree(self.path, ignore_errors=True)


class IndexWriter:
    """The single writer of an index directory (holds ``.lock`` while open).

    Usage::

        with IndexWriter(index_dir) as writer:
            staged = writer.stage()
            ...  # change rows
            manifest = writer.publish(staged, model, index_type, max_tokens)
    """

    def __init__(self, index_dir: Path, keep_versions: int = 2, lock_timeout: float = 3.0) -> None:
        self.index_dir = Path(index_dir)
        self.keep_versions = keep_versions
        self._lock = IndexLock(self.index_dir, lock_timeout)
        self._created = False

    def __enter__(self) -> IndexWriter:
        require_index_folder(self.index_dir)
        self._created = not self.index_dir.exists()
        self._lock.acquire()
        versions_dir(self.index_dir).mkdir(parents=True, exist_ok=True)
        self.remove_stale_tmp()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        # A first build that published nothing ("no articles found", a full disk) leaves no
        # empty index folder behind: it said nothing changed, and nothing did.
        unused = self._created and not (self.index_dir / CURRENT_FILE).exists()
        if unused:
            with contextlib.suppress(OSError):
                versions_dir(self.index_dir).rmdir()  # only if empty
        self._lock.release()
        if unused:
            with contextlib.suppress(OSError):
                (self.index_dir / LOCK_FILE).unlink()
                self.index_dir.rmdir()  # only if empty

    def remove_stale_tmp(self) -> None:
        """Temp versions left by a killed writer (we hold the lock, so none is live)."""
        for p in stale_tmp_paths(self.index_dir):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def current(self) -> tuple[str | None, Manifest | None]:
        name = read_current(self.index_dir)
        if name is None:
            return None, None
        return name, load_manifest(version_path(self.index_dir, name))

    def stage(self, fresh_if_broken: bool = False) -> StagedVersion:
        """A temp version whose metadata starts as a copy of the current version's.

        ``fresh_if_broken`` (a full build) starts from nothing when the current version cannot
        be read, so ``newsbot index build`` repairs a damaged index instead of refusing.
        """
        tmp = new_tmp_path(self.index_dir)
        try:
            name, manifest = self.current()
            if name is not None:
                tmp.mkdir()
                copy_metadata(version_path(self.index_dir, name) / META_FILE, tmp / META_FILE)
        except IndexCorruptError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not fresh_if_broken:
                raise
            name, manifest = None, None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # e.g. a full disk: leave no half copy behind
            raise
        tmp.mkdir(exist_ok=True)
        return StagedVersion(tmp, name, manifest)

    def publish(self, staged: StagedVersion, model: ModelInfo, index_type: IndexType,
                max_chunk_tokens: int) -> Manifest:
        """Finish ``staged``, move it into place and point CURRENT at it (atomically)."""
        version = new_version_name(self.index_dir)
        try:
            manifest = staged.finalize(model, index_type, max_chunk_tokens, version)
            fsync_tree(staged.path)
            os.rename(staged.path, version_path(self.index_dir, version))
        except BaseException:
            staged.discard()
            raise
        fsync_path(versions_dir(self.index_dir))
        write_current(self.index_dir, version)
        self.prune()
        return manifest

    def prune(self) -> None:
        """Keep the current version and the ``keep_versions`` newest others; drop the rest."""
        current = current_or_none(self.index_dir)
        others = [v for v in list_versions(self.index_dir) if v != current]
        drop = others[: max(0, len(others) - self.keep_versions)]
        for name in drop:
            self.drop_version(name)

    def drop_version(self, name: str) -> None:
        """Delete a version that is not current (readers still on it keep their open files)."""
        if name == current_or_none(self.index_dir):
            raise ValueError(f"refusing to drop the current version {name}")
        shutil.rmtree(version_path(self.index_dir, name), ignore_errors=True)
