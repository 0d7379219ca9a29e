"""Check that an index version is whole: manifest, metadata, FAISS and BM25 agree.

Used by ``newsbot index verify`` (exit status + one line) and by tests after crashes.  It reads
the files directly rather than through :class:`~index.store.IndexReader`, so it can say
precisely *what* disagrees instead of failing on the first unreadable file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from index.errors import IndexCorruptError, IndexNotFoundError
from index.lexical import LexicalIndex
from index.store import (
    BM25_CHUNKS,
    BM25_SENTENCES,
    CHUNKS_FAISS,
    CURRENT_FILE,
    META_FILE,
    SENTENCES_FAISS,
    faiss,
    faiss_ids,
    load_manifest,
    read_current,
    versions_dir,
)


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


class _Problem(Exception):
    pass


def _ids(conn: sqlite3.Connection, table: str) -> np.ndarray:
    rows = conn.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def _check_faiss(path: Path, what: str, want_ids: np.ndarray, dim: int) -> None:
    try:
        index: Any = faiss.read_index(str(path))
    except RuntimeError:
        raise _Problem(f"{path}: unreadable FAISS file") from None
    if index.d != dim:
        raise _Problem(f"{path}: dimension {index.d}, manifest says {dim}")
    if index.ntotal != len(want_ids):
        raise _Problem(f"{what}: FAISS holds {index.ntotal}, metadata {len(want_ids)}")
    try:
        got = np.sort(faiss_ids(index))
    except (AttributeError, RuntimeError):
        raise _Problem(f"{path}: not an id-mapped FAISS index") from None
    if not np.array_equal(got, want_ids):
        extra = np.setdiff1d(got, want_ids)
        lost = np.setdiff1d(want_ids, got)
        raise _Problem(
            f"{what}: FAISS and metadata ids differ "
            f"({len(extra)} only in FAISS, {len(lost)} only in metadata)"
        )


def _check(index_dir: Path, checked: list[str]) -> str:
    name = read_current(index_dir)
    if name is None:
        raise IndexNotFoundError(f"no index at {index_dir} (no {CURRENT_FILE})")
    vpath = versions_dir(index_dir) / name
    if not vpath.is_dir():
        raise _Problem(f"{CURRENT_FILE} names {name} but {vpath} is missing")
    try:
        manifest = load_manifest(vpath)
    except IndexCorruptError as exc:
        raise _Problem(str(exc)) from None
    checked.append("manifest")
    dim = manifest.model.dimension

    meta = vpath / META_FILE
    if not meta.is_file():
        raise _Problem(f"{meta}: missing")
    try:
        conn = sqlite3.connect(f"file:{meta}?mode=ro", uri=True)
        try:
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
            if integrity != "ok":
                raise _Problem(f"{meta}: {integrity}")
            n_articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            chunk_ids = _ids(conn, "chunks")
            sentence_ids = _ids(conn, "sentences")
            bad_offsets = conn.execute(
                'SELECT COUNT(*) FROM chunks c JOIN articles a ON a.id = c.article_id '
                'WHERE c.start < 0 OR c."end" <= c.start OR c."end" > length(a.body)'
            ).fetchone()[0]
            bad_offsets += conn.execute(
                'SELECT COUNT(*) FROM sentences s JOIN articles a ON a.id = s.article_id '
                'WHERE s.start < 0 OR s."end" <= s.start OR s."end" > length(a.body)'
            ).fetchone()[0]
            orphans = conn.execute(
                "SELECT (SELECT COUNT(*) FROM chunks WHERE article_id NOT IN (SELECT id FROM articles))"
                " + (SELECT COUNT(*) FROM sentences WHERE article_id NOT IN (SELECT id FROM articles))"
            ).fetchone()[0]
            no_vector = conn.execute(
                "SELECT (SELECT COUNT(*) FROM chunks t WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
                "WHERE e.text_hash = t.text_hash AND e.model = ?)) + (SELECT COUNT(*) FROM sentences t "
                "WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.text_hash = t.text_hash "
                "AND e.model = ?))",
                (manifest.model.name, manifest.model.name),
            ).fetchone()[0]
            bad_dims = conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE model = ? AND length(vector) != ?",
                (manifest.model.name, dim * 4),
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _Problem(f"{meta}: unreadable ({exc})") from None
    for what, want, got in (
        ("articles", manifest.articles, n_articles),
        ("chunks", manifest.chunks, len(chunk_ids)),
        ("sentences", manifest.sentences, len(sentence_ids)),
    ):
        if want != got:
            raise _Problem(f"{what}: manifest says {want}, metadata holds {got}")
    if orphans:
        raise _Problem(f"{orphans} chunks/sentences belong to no article")
    if bad_offsets:
        raise _Problem(f"{bad_offsets} chunks/sentences have offsets outside their article body")
    if no_vector:
        raise _Problem(f"{no_vector} chunks/sentences have no stored embedding")
    if bad_dims:
        raise _Problem(f"{bad_dims} stored embeddings are not {dim}-dimensional float32")
    checked.append("metadata")

    _check_faiss(vpath / CHUNKS_FAISS, "chunks", chunk_ids, dim)
    _check_faiss(vpath / SENTENCES_FAISS, "sentences", sentence_ids, dim)
    checked.append("faiss")

    for sub, what, want in ((BM25_CHUNKS, "chunks", len(chunk_ids)),
                            (BM25_SENTENCES, "sentences", len(sentence_ids))):
        try:
            lex = LexicalIndex.load(vpath / sub, mmap=False)
        except (OSError, ValueError, KeyError) as exc:
            reason = " ".join(str(exc).split())[:160]
            raise _Problem(f"{vpath / sub}: unreadable BM25 index ({reason})") from None
        if lex.num_docs != want:
            raise _Problem(f"{what}: BM25 holds {lex.num_docs} documents, metadata {want}")
    checked.append("bm25")
    return name


def verify_index(index_dir: Path) -> VerifyResult:
    """Verify the current version of ``index_dir``.

    Raises IndexNotFoundError when there is no index at all (that is not corruption);
    every other problem is returned as ``ok=False`` with a one-line reason.
    """
    checked: list[str] = []
    index_dir = Path(index_dir)
    version: str | None
    try:
        version = _check(index_dir, checked)
    except _Problem as exc:
        try:
            version = read_current(index_dir)
        except IndexCorruptError:
            version = None
        return VerifyResult(ok=False, version=version, reason=" ".join(str(exc).split()), checked=checked)
    except IndexCorruptError as exc:
        return VerifyResult(ok=False, reason=" ".join(str(exc).split()), checked=checked)
    return VerifyResult(ok=True, version=version, checked=checked)
