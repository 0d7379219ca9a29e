"""Check that an index version is whole: manifest, metadata, FAISS and BM25 agree.

Used by ``newsbot index verify`` (exit status + one line) and by tests after crashes.  It runs
the same checks as :meth:`IndexReader.open <index.store.reader.IndexReader.open>` (the
functions of :mod:`index.store.reader`), one part at a time so it can say *what* disagrees,
and digs deeper: SQLite's page check, offsets, orphans, stored vectors, and FAISS ids equal
to the metadata's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from index.errors import IndexCorruptError, IndexNotFoundError
from index.store.layout import (
    CHUNKS_FAISS,
    CURRENT_FILE,
    META_FILE,
    SENTENCES_FAISS,
    load_manifest,
    read_current,
)
from index.store.reader import (
    MetadataTables,
    count_problems,
    existing_version_dir,
    metadata_errors,
    open_bm25,
    open_faiss,
    open_metadata,
    require_files,
)
from index.store.vectors import FaissIndex, faiss_ids


class VerifyResult(BaseModel):
    """Outcome of :func:`verify_index`; ``reason`` is the first problem found, as one line."""

    ok: bool
    version: str | None = None
    reason: str | None = None
    checked: list[str] = Field(default_factory=list)

    def one_line(self) -> str:
        if self.ok:
            return f"ok: index version {self.version} verified ({', '.join(self.checked)})"
        return f"index corrupt: {self.reason}"


def _check_ids(path: Path, what: str, index: FaissIndex, want_ids: np.ndarray) -> None:
    try:
        got = np.sort(faiss_ids(index))
    except (AttributeError, RuntimeError):
        raise IndexCorruptError(f"{path}: not an id-mapped FAISS index") from None
    if not np.array_equal(got, want_ids):
        extra = np.setdiff1d(got, want_ids)
        lost = np.setdiff1d(want_ids, got)
        raise IndexCorruptError(
            f"{what}: FAISS and metadata ids differ "
            f"({len(extra)} only in FAISS, {len(lost)} only in metadata)"
        )


def _check(index_dir: Path, name: str, checked: list[str]) -> None:
    vpath = existing_version_dir(index_dir, name)
    manifest = load_manifest(vpath)
    checked.append("manifest")
    dim = manifest.model.dimension

    require_files(vpath)
    meta = open_metadata(vpath)
    try:
        with metadata_errors(vpath):
            problem = meta.quick_check()
            if problem:
                raise IndexCorruptError(f"{vpath / META_FILE}: {problem}")
            problem = meta.consistency_problem(manifest.model.name, dim)
            if problem:
                raise IndexCorruptError(problem)
            all_chunk_ids, all_sentence_ids = meta.all_ids("chunks"), meta.all_ids("sentences")
        tables = MetadataTables.load(meta, vpath)
    finally:
        meta.close()
    checked.append("metadata")

    chunks_index, sentences_index = open_faiss(vpath)
    _check_ids(vpath / CHUNKS_FAISS, "chunks", chunks_index, all_chunk_ids)
    _check_ids(vpath / SENTENCES_FAISS, "sentences", sentences_index, all_sentence_ids)
    checked.append("faiss")

    bm25_chunks, bm25_sentences = open_bm25(vpath, mmap=False)
    checked.append("bm25")
    problem = count_problems(manifest, tables, chunks_index, sentences_index, bm25_chunks, bm25_sentences)
    if problem:
        raise IndexCorruptError(problem)


def verify_index(index_dir: Path) -> VerifyResult:
    """Verify the current version of ``index_dir``.

    Raises IndexNotFoundError when there is no index at all (that is not corruption);
    every other problem is returned as ``ok=False`` with a one-line reason.
    """
    checked: list[str] = []
    index_dir = Path(index_dir)
    try:
        name = read_current(index_dir)
    except IndexCorruptError as exc:
        return VerifyResult(ok=False, reason=" ".join(str(exc).split()), checked=checked)
    if name is None:
        raise IndexNotFoundError(f"no index at {index_dir} (no {CURRENT_FILE})")
    try:
        _check(index_dir, name, checked)
    except IndexCorruptError as exc:
        return VerifyResult(ok=False, version=name, reason=" ".join(str(exc).split()), checked=checked)
    return VerifyResult(ok=True, version=name, checked=checked)
