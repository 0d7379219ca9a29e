"""The versioned on-disk index: atomic writer and the read side used on every question.

Layout (see ARCHITECTURE.md)::

    INDEX_DIR/CURRENT              name of the published version (os.replace'd)
    INDEX_DIR/.lock                fcntl lock held by the one writer
    INDEX_DIR/versions/<version>/  manifest.json, meta.sqlite, chunks.faiss, sentences.faiss,
                                   bm25_chunks/, bm25_sentences/
    INDEX_DIR/versions/.tmp-*      a version being written (ignored by readers)

Why versions instead of in-place updates: a reader (the bot) never sees a half-written index,
a SIGKILL at any moment leaves ``CURRENT`` on a complete version, and a reader opened on an
old version keeps working until it chooses to reopen.

Ids: chunk and sentence ids are int64 handed out from counters kept in ``meta.sqlite``; an
unchanged article keeps its rows (and so its ids) from version to version because every new
version starts as a copy of the previous metadata.  BM25 document ``i`` is the ``i``-th id in
ascending order of its table.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import faiss as _faiss
import numpy as np
from pydantic import BaseModel, ValidationError

from index.diskspace import dir_size, is_disk_full
from index.errors import (
    ConfigError,
    DiskFullError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    ModelMismatchError,
)
from index.lexical import LexicalIndex, tokenize
from index.models import Article, ArticleListing, Chunk, Manifest, ModelInfo, Sentence

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
VERSIONS_DIR = "versions"
TMP_PREFIX = ".tmp-"
MANIFEST_FILE = "manifest.json"
META_FILE = "meta.sqlite"
CHUNKS_FAISS = "chunks.faiss"
SENTENCES_FAISS = "sentences.faiss"
BM25_CHUNKS = "bm25_chunks"
BM25_SENTENCES = "bm25_sentences"

#: The SWIG bindings ship partial type stubs (no SearchParametersHNSW, no downcast results);
#: treat the module as dynamic rather than sprinkle ignores.
faiss: Any = _faiss

IndexType = Literal["flat", "hnsw", "ivf"]
_VERSION_RE = re.compile(r"^v(\d{6,})-\d{8}T\d{6}Z$")
_SQL_BATCH = 900  # stay well under SQLite's bound-parameter limit

SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    date TEXT,
    date_ts REAL,
    url TEXT,
    source TEXT,
    byline TEXT,
    origin TEXT,
    body_hash TEXT NOT NULL,
    revision_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    indexed_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_body_hash ON articles(body_hash);
CREATE INDEX IF NOT EXISTS articles_date ON articles(date_ts);
CREATE INDEX IF NOT EXISTS articles_indexed ON articles(indexed_ts);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, position);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL,
    last_sentence INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    text_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, position);
CREATE TABLE IF NOT EXISTS embeddings (
    text_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (text_hash, model)
) WITHOUT ROWID;
"""


def text_hash(text: str) -> str:
    """Key of an embedding input: sha256 of the exact text that was encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _batched(seq: Sequence[Any], size: int = _SQL_BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# ---------------------------------------------------------------------------------------------
# paths and CURRENT


def versions_dir(index_dir: Path) -> Path:
    return index_dir / VERSIONS_DIR


def require_index_folder(index_dir: Path) -> None:
    """ConfigError when ``index_dir`` exists but is not a folder (``--index`` given a file)."""
    if index_dir.exists() and not index_dir.is_dir():
        raise ConfigError(f"--index / NEWSBOT_INDEX_DIR: {index_dir} is a file, not an index folder")


def require_published(index_dir: Path) -> str:
    """The current version's name; IndexNotFoundError (one line) when nothing is published.

    Cheap: callers run it before loading a model, so a wrong ``--index`` fails at once.
    """
    name = read_current(index_dir)
    if name is None:
        raise IndexNotFoundError(
            f"no index at {index_dir} (no {CURRENT_FILE}); build one with `newsbot index build SOURCE...`"
        )
    return name


def read_current(index_dir: Path) -> str | None:
    """The published version name, or None when nothing was ever published."""
    require_index_folder(index_dir)
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexCorruptError(f"{index_dir / CURRENT_FILE}: unreadable ({exc})") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorruptError(f"{index_dir / CURRENT_FILE}: does not name a version ({name!r})")
    return name


def current_or_none(index_dir: Path) -> str | None:
    """Like :func:`read_current`, but a garbage ``CURRENT`` counts as nothing published
    (what a full build, which rewrites ``CURRENT``, needs to repair it)."""
    try:
        return read_current(index_dir)
    except IndexCorruptError:
        return None


def _fsync_path(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (files first, then their directories)."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            _fsync_path(Path(dirpath) / name)
        _fsync_path(Path(dirpath))


def _write_atomic(path: Path, data: str) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_path(path.parent)


def write_current(index_dir: Path, version: str) -> None:
    """Point ``CURRENT`` at ``version`` atomically (the one switch every publish makes)."""
    _write_atomic(index_dir / CURRENT_FILE, version + "\n")


def version_seq(name: str) -> int:
    m = _VERSION_RE.match(name)
    return int(m.group(1)) if m else -1


def list_versions(index_dir: Path) -> list[str]:
    """Published version directories, oldest first."""
    vdir = versions_dir(index_dir)
    if not vdir.is_dir():
        return []
    names = [p.name for p in vdir.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
    return sorted(names, key=lambda n: (version_seq(n), n))


def new_version_name(index_dir: Path, now: datetime | None = None) -> str:
    """Next sortable name: ``v<seq>-<UTC timestamp>``; seq is one past any existing version."""
    existing = [version_seq(n) for n in list_versions(index_dir)]
    current = current_or_none(index_dir)
    if current:
        existing.append(version_seq(current))
    seq = max(existing, default=0) + 1
    stamp = (now or _utc_now()).strftime("%Y%m%dT%H%M%SZ")
    return f"v{seq:06d}-{stamp}"


# ---------------------------------------------------------------------------------------------
# FAISS helpers


def resolve_index_type(requested: str, n_chunks: int, approximate_above: int) -> IndexType:
    """``auto`` → exact search while small (it is fast and perfect), HNSW beyond the threshold."""
    if requested == "auto":
        return "hnsw" if n_chunks > approximate_above else "flat"
    if requested in ("flat", "hnsw", "ivf"):
        return requested  # type: ignore[return-value]
    raise ValueError(f"unknown index type {requested!r}")


def build_faiss(ids: np.ndarray, vectors: np.ndarray, index_type: IndexType, dim: int) -> Any:
    """An ``IndexIDMap2`` over inner product (vectors are unit length → cosine)."""
    n = int(ids.shape[0])
    if index_type == "hnsw":
        index = faiss.index_factory(dim, "IDMap2,HNSW32,Flat", faiss.METRIC_INNER_PRODUCT)
        inner = faiss.downcast_index(index.index)
        inner.hnsw.efConstruction = 80
        inner.hnsw.efSearch = 64
    elif index_type == "ivf" and n >= 2 * 39:
        nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
        index = faiss.index_factory(dim, f"IDMap2,IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        faiss.downcast_index(index.index).nprobe = max(1, min(nlist, 16))
    else:  # flat, or IVF with too few vectors to train on
        index = faiss.index_factory(dim, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
    if n:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def faiss_ids(index: Any) -> np.ndarray:
    """External ids held by an IndexIDMap(2), in insertion order."""
    return np.asarray(faiss.vector_to_array(faiss.downcast_index(index).id_map), dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# row <-> model conversion


_ARTICLE_COLS = "id, title, body, date, url, source, byline, origin"


def _article_from_row(row: Sequence[Any]) -> Article:
    return Article.model_construct(
        id=row[0], title=row[1], body=row[2],
        date=datetime.fromisoformat(row[3]) if row[3] else None,
        url=row[4], source=row[5], byline=row[6], origin=row[7],
    )


# ---------------------------------------------------------------------------------------------
# writer side


class IndexLock:
    """Exclusive fcntl lock on ``INDEX_DIR/.lock``; waits up to ``timeout`` seconds."""

    def __init__(self, index_dir: Path, timeout: float = 3.0) -> None:
        self.path = index_dir / LOCK_FILE
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexLockedError(
                        f"{self.path.parent} is being updated by another process "
                        f"(lock {self.path}); try again when it finishes"
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> IndexLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class StoredArticleState:
    """What a writer needs to know about an article already in the index."""

    revision_hash: str
    body_hash: str
    date_ts: float | None
    indexed_ts: float


class StagedVersion:
    """A version being written in ``versions/.tmp-*``: a writable copy of the metadata.

    Created by :meth:`IndexWriter.stage`; the pipeline deletes and inserts rows, then
    :meth:`finalize` builds FAISS + BM25 from the stored embeddings and writes the manifest.
    """

    def __init__(self, path: Path, previous: str | None, previous_manifest: Manifest | None) -> None:
        self.path = path
        self.previous = previous
        self.previous_manifest = previous_manifest
        self.conn = sqlite3.connect(path / META_FILE, isolation_level=None)
        # The temp version is thrown away on a crash and fsynced before publishing, so the
        # journal and per-commit syncs would only cost time.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.executescript(SCHEMA)
        self.conn.execute("BEGIN")
        self.changed = False

    # -- ids ------------------------------------------------------------------------------
    def _counter(self, key: str, table: str) -> int:
        row = self.conn.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        stored = int(row[0]) if row else 1
        top = self.conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0]
        return max(stored, int(top))

    def allocate_ids(self, table: Literal["chunks", "sentences"], n: int) -> int:
        """Reserve ``n`` fresh ids (never reused, even after removals); returns the first."""
        key = f"next_{table}_id"
        first = self._counter(key, table)
        self.conn.execute(
            "INSERT INTO info(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(first + n)),
        )
        return first

    # -- reads ----------------------------------------------------------------------------
    def article_states(self) -> dict[str, StoredArticleState]:
        rows = self.conn.execute(
            "SELECT id, revision_hash, body_hash, date_ts, indexed_ts FROM articles"
        ).fetchall()
        return {r[0]: StoredArticleState(r[1], r[2], r[3], r[4]) for r in rows}

    def stored_vectors(self, hashes: Sequence[str], model: str) -> dict[str, bytes]:
        """Stored embedding blobs for the given input hashes (those that exist)."""
        out: dict[str, bytes] = {}
        for batch in _batched(list(hashes)):
            rows = self.conn.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model = ? "
                f"AND text_hash IN ({_placeholders(len(batch))})",
                (model, *batch),
            ).fetchall()
            out.update({h: v for h, v in rows})
        return out

    def counts(self) -> tuple[int, int, int]:
        c = self.conn
        return (
            int(c.execute("SELECT COUNT(*) FROM articles").fetchone()[0]),
            int(c.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]),
            int(c.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]),
        )

    # -- writes ---------------------------------------------------------------------------
    def delete_articles(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        for batch in _batched(ids):
            ph = _placeholders(len(batch))
            self.conn.execute(f"DELETE FROM sentences WHERE article_id IN ({ph})", batch)
            self.conn.execute(f"DELETE FROM chunks WHERE article_id IN ({ph})", batch)
            self.conn.execute(f"DELETE FROM articles WHERE id IN ({ph})", batch)
        if ids:
            self.changed = True
        return len(ids)

    def insert_articles(self, articles: Sequence[Article], indexed_at: datetime,
                        hashes: Sequence[tuple[str, str]] | None = None) -> None:
        """Insert articles; ``hashes`` = (body_hash, revision_hash) per article when known."""
        stamp, ts = indexed_at.isoformat(), indexed_at.timestamp()
        if hashes is None:
            hashes = [(a.body_hash, a.revision_hash) for a in articles]
        self.conn.executemany(
            "INSERT INTO articles (id, title, body, date, date_ts, url, source, byline, origin, "
            "body_hash, revision_hash, indexed_at, indexed_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (a.id, a.title, a.body, a.date.isoformat() if a.date else None, _ts(a.date), a.url,
                 a.source, a.byline, a.origin, bh, rh, stamp, ts)
                for a, (bh, rh) in zip(articles, hashes, strict=True)
            ],
        )
        if articles:
            self.changed = True

    def insert_sentences(self, rows: Sequence[tuple[int, str, int, int, int, str]]) -> None:
        """Rows of (id, article_id, position, start, end, text_hash)."""
        self.conn.executemany(
            'INSERT INTO sentences (id, article_id, position, start, "end", text_hash) '
            "VALUES (?,?,?,?,?,?)",
            rows,
        )

    def insert_chunks(self, rows: Sequence[tuple[int, str, int, int, int, int, int, int, str]]) -> None:
        """Rows of (id, article_id, position, first, last, start, end, n_tokens, text_hash)."""
        self.conn.executemany(
            "INSERT INTO chunks (id, article_id, position, first_sentence, last_sentence, start, "
            '"end", n_tokens, text_hash) VALUES (?,?,?,?,?,?,?,?,?)',
            rows,
        )

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray, model: str) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        # In key order the B-tree is appended to rather than split at random places.
        order = sorted(range(len(hashes)), key=hashes.__getitem__)
        self.conn.executemany(
            "INSERT OR REPLACE INTO embeddings (text_hash, model, vector) VALUES (?,?,?)",
            [(hashes[i], model, vecs[i].tobytes()) for i in order],
        )

    def has_vectors(self, model: str) -> bool:
        """Any stored vector of ``model`` (a first build skips the per-text lookups)."""
        row = self.conn.execute("SELECT 1 FROM embeddings WHERE model = ? LIMIT 1", (model,)).fetchone()
        return row is not None

    def drop_embeddings_of_other_models(self, model: str) -> None:
        self.conn.execute("DELETE FROM embeddings WHERE model != ?", (model,))

    def collect_garbage(self, model: str) -> None:
        """Drop stored vectors no chunk or sentence uses any more (or of another model)."""
        self.conn.execute(
            "DELETE FROM embeddings WHERE model != ? OR (text_hash NOT IN (SELECT text_hash FROM chunks)"
            " AND text_hash NOT IN (SELECT text_hash FROM sentences))",
            (model,),
        )

    # -- finishing --------------------------------------------------------------------------
    def _vectors(self, table: str, model: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        total = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        ids = np.empty(total, dtype=np.int64)
        vecs = np.empty((total, dim), dtype=np.float32)
        cur = self.conn.execute(
            f"SELECT t.id, e.vector FROM {table} t JOIN embeddings e "
            f"ON e.text_hash = t.text_hash AND e.model = ? ORDER BY t.id",
            (model,),
        )
        n = 0
        for n, (id_, blob) in enumerate(cur, start=1):
            ids[n - 1] = id_
            vecs[n - 1] = np.frombuffer(blob, dtype=np.float32)
        if n != total:
            raise IndexCorruptError(f"{self.path}: {total - n} {table} have no stored embedding")
        return ids, vecs

    def _lexical_docs(self) -> tuple[list[list[str]], list[list[str]]]:
        """BM25 documents (chunks, sentences), each in ascending id order.

        Sentences are tokenized once; a chunk's terms are its title's terms followed by those of
        its sentences — the same as tokenizing the chunk text, since what lies between
        sentences (whitespace, bullets, separator lines) has no terms — at half the cost.
        """
        sentence_docs: list[list[str]] = []
        by_position: dict[tuple[str, int], int] = {}
        for article_id, position, text in self.conn.execute(
            'SELECT s.article_id, s.position, substr(a.body, s.start + 1, s."end" - s.start) '
            "FROM sentences s JOIN articles a ON a.id = s.article_id ORDER BY s.id"
        ):
            by_position[(article_id, position)] = len(sentence_docs)
            sentence_docs.append(tokenize(text))
        chunk_docs: list[list[str]] = []
        titles: dict[str, list[str]] = {}
        for article_id, first, last, title in self.conn.execute(
            "SELECT c.article_id, c.first_sentence, c.last_sentence, a.title "
            "FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"
        ):
            terms = titles.get(article_id)
            if terms is None:
                terms = titles[article_id] = tokenize(title)
            doc = list(terms)
            for pos in range(first, last + 1):
                doc.extend(sentence_docs[by_position[(article_id, pos)]])
            chunk_docs.append(doc)
        return chunk_docs, sentence_docs

    def finalize(self, model: ModelInfo, index_type: IndexType, max_chunk_tokens: int,
                 version: str) -> Manifest:
        """Commit metadata, build FAISS + BM25 from stored vectors, write the manifest."""
        self.collect_garbage(model.name)
        self.conn.execute(
            "INSERT OR REPLACE INTO info(key, value) VALUES ('model', ?)", (model.model_dump_json(),)
        )
        self.conn.execute("COMMIT")
        for table, faiss_name in (("chunks", CHUNKS_FAISS), ("sentences", SENTENCES_FAISS)):
            ids, vecs = self._vectors(table, model.name, model.dimension)
            index = build_faiss(ids, vecs, index_type, model.dimension)
            faiss.write_index(index, str(self.path / faiss_name))
            del vecs, index
        chunk_docs, sentence_docs = self._lexical_docs()
        LexicalIndex.build(chunk_docs).save(self.path / BM25_CHUNKS)
        del chunk_docs
        LexicalIndex.build(sentence_docs).save(self.path / BM25_SENTENCES)
        n_articles, n_chunks, n_sentences = self.counts()
        sources = [r[0] for r in self.conn.execute(
            "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source")]
        self.conn.close()
        manifest = Manifest(
            format_version=FORMAT_VERSION, version=version, created_at=_utc_now(), model=model,
            index_type=index_type, articles=n_articles, chunks=n_chunks, sentences=n_sentences,
            max_chunk_tokens=max_chunk_tokens, sources=sources,
        )
        (self.path / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return manifest

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _copy_metadata(src_path: Path, dst_path: Path) -> None:
    """Copy a published meta.sqlite with SQLite's backup API (consistent, no partial pages)."""
    try:
        src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
        dst = sqlite3.connect(dst_path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        if is_disk_full(exc):
            raise DiskFullError(f"{dst_path.parent}: no room to copy the metadata ({exc})") from None
        raise IndexCorruptError(f"{src_path}: cannot copy metadata ({exc})") from None


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

    def __enter__(self) -> IndexWriter:
        require_index_folder(self.index_dir)
        self._lock.acquire()
        versions_dir(self.index_dir).mkdir(parents=True, exist_ok=True)
        self.remove_stale_tmp()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._lock.release()

    def remove_stale_tmp(self) -> None:
        """Temp versions left by a killed writer (we hold the lock, so none is live)."""
        for p in versions_dir(self.index_dir).glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.index_dir.glob(f".{CURRENT_FILE}.tmp-*"):
            p.unlink(missing_ok=True)

    def current(self) -> tuple[str | None, Manifest | None]:
        name = read_current(self.index_dir)
        if name is None:
            return None, None
        return name, load_manifest(versions_dir(self.index_dir) / name)

    def stage(self, fresh_if_broken: bool = False) -> StagedVersion:
        """A temp version whose metadata starts as a copy of the current version's.

        ``fresh_if_broken`` (a full build) starts from nothing when the current version cannot
        be read, so ``newsbot index build`` repairs a damaged index instead of refusing.
        """
        tmp = versions_dir(self.index_dir) / f"{TMP_PREFIX}{secrets.token_hex(6)}"
        try:
            name, manifest = self.current()
            if name is not None:
                tmp.mkdir()
                _copy_metadata(versions_dir(self.index_dir) / name / META_FILE, tmp / META_FILE)
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
            _fsync_tree(staged.path)
            final = versions_dir(self.index_dir) / version
            os.rename(staged.path, final)
        except BaseException:
            staged.discard()
            raise
        _fsync_path(versions_dir(self.index_dir))
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
        shutil.rmtree(versions_dir(self.index_dir) / name, ignore_errors=True)


def load_manifest(version_path: Path) -> Manifest:
    path = version_path / MANIFEST_FILE
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: missing") from None
    except (OSError, ValidationError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise IndexCorruptError(f"{path}: unreadable manifest ({reason})") from None


def check_model(manifest: Manifest, expected: ModelInfo | None, index_dir: Path) -> None:
    """ModelMismatchError when the index's vectors come from another model than ``expected``."""
    if expected is None:
        return
    have = manifest.model
    if have.name != expected.name or have.dimension != expected.dimension:
        raise ModelMismatchError(
            f"the index at {index_dir} was built with model {have.name!r} (dimension {have.dimension}) "
            f"but the configured model is {expected.name!r} (dimension {expected.dimension}); "
            f"rebuild it with `newsbot index build` or set NEWSBOT_MODEL={have.name}"
        )


# ---------------------------------------------------------------------------------------------
# reader side


class SourceCount(BaseModel):
    name: str
    articles: int


class IndexAbout(BaseModel):
    """What ``newsbot index stats`` and the bot's /about show."""

    index_dir: str
    version: str
    model: ModelInfo
    index_type: str
    dimension: int
    articles: int
    chunks: int
    sentences: int
    sources: list[SourceCount]
    earliest: datetime | None
    latest: datetime | None
    last_update: datetime
    size_bytes: int


def _to_ids(values: Sequence[int] | np.ndarray) -> list[int]:
    return [int(v) for v in values]


def _id_map(conn: sqlite3.Connection, table: str) -> tuple[np.ndarray, np.ndarray]:
    """Ids of ``table`` in ascending order and, for each, its article's rowid."""
    rows = conn.execute(
        f"SELECT t.id, a.rowid FROM {table} t JOIN articles a ON a.id = t.article_id ORDER BY t.id"
    ).fetchall()
    arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
    return np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])


@dataclass(frozen=True)
class _ArticleFacets:
    """Per-article date and source, indexed by article rowid, for filters without SQL.

    A date/source filter then costs a few numpy operations instead of a join over every
    sentence (which took ~50 ms on the BBC corpus).
    """

    date_ts: np.ndarray  # float64, NaN when undated
    source_code: np.ndarray  # int32 index into ``sources``, -1 when unknown
    sources: tuple[str, ...]  # lowercased distinct sources
    exists: np.ndarray  # bool: a row with this rowid exists (rowids have gaps after removals)

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> _ArticleFacets:
        rows = conn.execute("SELECT rowid, date_ts, source FROM articles").fetchall()
        size = max((r[0] for r in rows), default=0) + 1
        date_ts = np.full(size, np.nan)
        source_code = np.full(size, -1, dtype=np.int32)
        exists = np.zeros(size, dtype=bool)
        codes: dict[str, int] = {}
        for rowid, ts, source in rows:
            exists[rowid] = True
            if ts is not None:
                date_ts[rowid] = ts
            if source:
                source_code[rowid] = codes.setdefault(source.lower(), len(codes))
        return cls(date_ts, source_code, tuple(codes), exists)

    def undated(self, sources: Sequence[str] | None) -> int:
        """Articles without a date (of ``sources``, when given): what a date filter leaves out."""
        return int((self.exists & np.isnan(self.date_ts) & self.mask(None, None, sources)).sum())

    def mask(self, since: datetime | None, until: datetime | None,
             sources: Sequence[str] | None) -> np.ndarray:
        keep = np.ones(self.date_ts.shape[0], dtype=bool)
        with np.errstate(invalid="ignore"):
            if since is not None:
                keep &= self.date_ts >= since.timestamp()
            if until is not None:
                keep &= self.date_ts <= until.timestamp()
        if sources:
            wanted = [c for c, name in enumerate(self.sources)
                      if any(p.lower() in name for p in sources)]
            keep &= np.isin(self.source_code, np.asarray(wanted, dtype=np.int32))
        return keep


class IndexReader:
    """A read-only view of one published version; safe to share between threads.

    Opened on version V, it keeps serving V even after a writer publishes V+1 (check
    :meth:`newer_version_available` and reopen).  Metadata fetches are single batched SQL
    queries; article bodies are cached (LRU) because sentence and chunk text are slices of them.
    """

    BODY_CACHE = 2048

    def __init__(self, index_dir: Path, version: str, manifest: Manifest, conn: sqlite3.Connection,
                 chunks_index: Any, sentences_index: Any, bm25_chunks: LexicalIndex,
                 bm25_sentences: LexicalIndex, chunk_ids: np.ndarray, sentence_ids: np.ndarray,
                 chunk_articles: np.ndarray, sentence_articles: np.ndarray, facets: _ArticleFacets) -> None:
        self.index_dir = index_dir
        self.version = version
        self.manifest = manifest
        self._conn = conn
        self._lock = threading.RLock()
        self._chunks_index = chunks_index
        self._sentences_index = sentences_index
        self._bm25_chunks = bm25_chunks
        self._bm25_sentences = bm25_sentences
        self._chunk_ids = chunk_ids
        self._sentence_ids = sentence_ids
        self._chunk_articles = chunk_articles
        self._sentence_articles = sentence_articles
        self._facets = facets
        self._articles: OrderedDict[str, Article] = OrderedDict()
        self._current_key: tuple[int, int, int] | None = None
        self._current_name: str | None = version
        self._closed = False

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: Path, expected_model: ModelInfo | None = None,
             version: str | None = None) -> IndexReader:
        """Open the current (or a given) version; see the module doc for the errors raised."""
        index_dir = Path(index_dir)
        name = version or require_published(index_dir)
        vpath = versions_dir(index_dir) / name
        if not vpath.is_dir():
            raise IndexCorruptError(f"{index_dir}: {CURRENT_FILE} names {name} but {vpath} is missing")
        manifest = load_manifest(vpath)
        check_model(manifest, expected_model, index_dir)
        for fname in (META_FILE, CHUNKS_FAISS, SENTENCES_FAISS):
            if not (vpath / fname).is_file():
                raise IndexCorruptError(f"{vpath / fname}: missing")
        try:
            # immutable=1: a published version never changes, so SQLite may skip file locking.
            conn = sqlite3.connect(f"file:{vpath / META_FILE}?mode=ro&immutable=1", uri=True,
                                   check_same_thread=False)
            chunk_ids, chunk_articles = _id_map(conn, "chunks")
            sentence_ids, sentence_articles = _id_map(conn, "sentences")
            facets = _ArticleFacets.load(conn)
            n_articles = int(conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"{vpath / META_FILE}: unreadable ({exc})") from None
        try:
            chunks_index = faiss.read_index(str(vpath / CHUNKS_FAISS), faiss.IO_FLAG_READ_ONLY)
            sentences_index = faiss.read_index(str(vpath / SENTENCES_FAISS), faiss.IO_FLAG_READ_ONLY)
        except RuntimeError as exc:
            conn.close()
            reason = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else "read error"
            raise IndexCorruptError(f"{vpath}: unreadable FAISS index ({reason})") from None
        try:
            bm25_chunks = LexicalIndex.load(vpath / BM25_CHUNKS)
            bm25_sentences = LexicalIndex.load(vpath / BM25_SENTENCES)
        except (OSError, ValueError, KeyError) as exc:
            conn.close()
            raise IndexCorruptError(f"{vpath}: unreadable BM25 index ({exc})") from None
        problems = []
        if n_articles != manifest.articles:
            problems.append(f"articles: manifest {manifest.articles}, metadata {n_articles}")
        for what, want, faiss_n, meta_n, bm25_n in (
            ("chunks", manifest.chunks, chunks_index.ntotal, len(chunk_ids), bm25_chunks.num_docs),
            ("sentences", manifest.sentences, sentences_index.ntotal, len(sentence_ids),
             bm25_sentences.num_docs),
        ):
            if not want == faiss_n == meta_n == bm25_n:
                problems.append(f"{what}: manifest {want}, FAISS {faiss_n}, metadata {meta_n}, BM25 {bm25_n}")
        if chunks_index.d != manifest.model.dimension or sentences_index.d != manifest.model.dimension:
            problems.append(f"FAISS dimension differs from the manifest's {manifest.model.dimension}")
        if problems:
            conn.close()
            raise IndexCorruptError(f"{vpath}: counts disagree ({'; '.join(problems)})")
        return cls(index_dir, name, manifest, conn, chunks_index, sentences_index, bm25_chunks,
                   bm25_sentences, chunk_ids, sentence_ids, chunk_articles, sentence_articles, facets)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._conn.close()
                self._closed = True

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- dense search -----------------------------------------------------------------------
    def _dense(self, index: Any, vector: np.ndarray, k: int,
               allowed_ids: np.ndarray | None) -> list[tuple[int, float]]:
        if k <= 0 or index.ntotal == 0:
            return []
        q = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if q.shape[1] != index.d:
            raise ValueError(f"query vector has dimension {q.shape[1]}, the index {index.d}")
        params = None
        if allowed_ids is not None:
            allowed = np.ascontiguousarray(np.asarray(allowed_ids, dtype=np.int64))
            if allowed.size == 0:
                return []
            inner = faiss.downcast_index(faiss.downcast_index(index).index)
            if isinstance(inner, faiss.IndexHNSW) and allowed.size <= 4096:
                # Filtered graph search loses recall on small subsets; exact is cheap there.
                return self._exact_subset(index, q, k, allowed)
            sel = faiss.IDSelectorBatch(allowed)
            if isinstance(inner, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=inner.nprobe)
            elif isinstance(inner, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(inner.hnsw.efSearch, 4 * k))
            else:
                params = faiss.SearchParameters(sel=sel)
            k = min(k, int(allowed.size))
        k = min(k, int(index.ntotal))
        # One query is too small to share among OpenMP threads: a team of spinning threads
        # costs ~40 ms on a busy 2-core machine against ~2 ms single-threaded.  The setting is
        # per calling thread, so it is restored at once and torch's own threads are untouched.
        prev_threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, labels = index.search(q, k, params=params)
        finally:
            faiss.omp_set_num_threads(prev_threads)
        return [(int(i), float(s)) for i, s in zip(labels[0], scores[0], strict=True) if i >= 0]

    @staticmethod
    def _exact_subset(index: Any, q: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        vecs = index.reconstruct_batch(allowed)
        sims = vecs @ q[0]
        order = np.argsort(-sims, kind="stable")[:k]
        return [(int(allowed[i]), float(sims[i])) for i in order]

    def search_chunks(self, vector: np.ndarray, k: int,
                      allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, inner product) for a unit query vector, best first."""
        return self._dense(self._chunks_index, vector, k, allowed_ids)

    def search_sentences(self, vector: np.ndarray, k: int,
                         allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (sentence id, inner product), best first."""
        return self._dense(self._sentences_index, vector, k, allowed_ids)

    # -- lexical search ---------------------------------------------------------------------
    @staticmethod
    def _lexical(lex: LexicalIndex, ids: np.ndarray, query: str, k: int,
                 allowed_ids: np.ndarray | None) -> list[tuple[int, float]]:
        positions = None
        if allowed_ids is not None:
            allowed = np.asarray(allowed_ids, dtype=np.int64)
            pos = np.searchsorted(ids, allowed)
            ok = pos < len(ids)
            ok[ok] = ids[pos[ok]] == allowed[ok]
            positions = pos[ok]
            if positions.size == 0:
                return []
        return [(int(ids[p]), s) for p, s in lex.search(query, k, positions)]

    def bm25_chunks(self, query: str, k: int,
                    allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score > 0) for a text query (title + chunk text indexed)."""
        return self._lexical(self._bm25_chunks, self._chunk_ids, query, k, allowed_ids)

    def bm25_sentences(self, query: str, k: int,
                       allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (sentence id, BM25 score > 0)."""
        return self._lexical(self._bm25_sentences, self._sentence_ids, query, k, allowed_ids)

    # -- metadata ---------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        """Articles by id (unknown ids are left out); bodies come from an in-memory LRU."""
        out: dict[str, Article] = {}
        with self._lock:
            missing = []
            for aid in dict.fromkeys(ids):
                art = self._articles.get(aid)
                if art is None:
                    missing.append(aid)
                else:
                    self._articles.move_to_end(aid)
                    out[aid] = art
            for batch in _batched(missing):
                rows = self._conn.execute(
                    f"SELECT {_ARTICLE_COLS} FROM articles WHERE id IN ({_placeholders(len(batch))})", batch
                ).fetchall()
                for row in rows:
                    art = _article_from_row(row)
                    out[art.id] = art
                    self._articles[art.id] = art
            while len(self._articles) > self.BODY_CACHE:
                self._articles.popitem(last=False)
        return out

    def _sentences_from_rows(self, rows: Sequence[Sequence[Any]]) -> list[Sentence]:
        bodies = self.get_articles([r[1] for r in rows])
        return [
            Sentence.model_construct(id=r[0], article_id=r[1], position=r[2], start=r[3], end=r[4],
                                     text=bodies[r[1]].body[r[3] : r[4]])
            for r in rows
        ]

    _SENTENCE_COLS = 'id, article_id, position, start, "end"'

    def get_sentences(self, ids: Sequence[int]) -> list[Sentence]:
        """Sentences in the order of ``ids`` (unknown ids are left out), text filled in."""
        wanted = _to_ids(ids)
        rows: dict[int, Any] = {}
        for batch in _batched(list(dict.fromkeys(wanted))):
            for r in self._query(
                f"SELECT {self._SENTENCE_COLS} FROM sentences WHERE id IN ({_placeholders(len(batch))})",
                batch,
            ):
                rows[r[0]] = r
        ordered = [rows[i] for i in wanted if i in rows]
        return self._sentences_from_rows(ordered)

    def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        """Chunks in the order of ``ids`` (unknown ids are left out), text filled in."""
        wanted = _to_ids(ids)
        rows: dict[int, Any] = {}
        for batch in _batched(list(dict.fromkeys(wanted))):
            for r in self._query(
                'SELECT id, article_id, position, first_sentence, last_sentence, start, "end", n_tokens '
                f"FROM chunks WHERE id IN ({_placeholders(len(batch))})",
                batch,
            ):
                rows[r[0]] = r
        ordered = [rows[i] for i in wanted if i in rows]
        bodies = self.get_articles([r[1] for r in ordered])
        return [
            Chunk.model_construct(id=r[0], article_id=r[1], position=r[2], first_sentence=r[3],
                                  last_sentence=r[4], start=r[5], end=r[6], n_tokens=r[7],
                                  text=bodies[r[1]].body[r[5] : r[6]])
            for r in ordered
        ]

    def sentences_of_article(self, article_id: str, first: int = 0,
                             last: int | None = None) -> list[Sentence]:
        """Sentences at positions ``first..last`` (inclusive; ``last=None`` → to the end)."""
        hi = last if last is not None else 2**62
        rows = self._query(
            f"SELECT {self._SENTENCE_COLS} FROM sentences WHERE article_id = ? AND position BETWEEN ? AND ? "
            "ORDER BY position",
            (article_id, first, hi),
        )
        return self._sentences_from_rows(rows)

    def sentences_of_chunk(self, chunk_id: int) -> list[Sentence]:
        """The sentences a chunk is made of, in order."""
        rows = self._query(
            'SELECT s.id, s.article_id, s.position, s.start, s."end" FROM chunks c JOIN sentences s '
            "ON s.article_id = c.article_id AND s.position BETWEEN c.first_sentence AND c.last_sentence "
            "WHERE c.id = ? ORDER BY s.position",
            (int(chunk_id),),
        )
        return self._sentences_from_rows(rows)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Stored sentence embeddings, one row per id in the order given (KeyError if unknown)."""
        wanted = _to_ids(ids)
        dim = self.manifest.model.dimension
        found: dict[int, bytes] = {}
        for batch in _batched(list(dict.fromkeys(wanted))):
            for sid, blob in self._query(
                "SELECT s.id, e.vector FROM sentences s JOIN embeddings e "
                "ON e.text_hash = s.text_hash AND e.model = ? "
                f"WHERE s.id IN ({_placeholders(len(batch))})",
                (self.manifest.model.name, *batch),
            ):
                found[sid] = blob
        out = np.empty((len(wanted), dim), dtype=np.float32)
        for row, sid in enumerate(wanted):
            blob = found.get(sid)
            if blob is None:
                raise KeyError(f"sentence id {sid} is not in index version {self.version}")
            out[row] = np.frombuffer(blob, dtype=np.float32)
        return out

    def _ids_matching(self, table: str, since: datetime | None, until: datetime | None,
                      sources: Sequence[str] | None) -> np.ndarray:
        ids = self._chunk_ids if table == "chunks" else self._sentence_ids
        if since is None and until is None and not sources:
            return ids.copy()
        owners = self._chunk_articles if table == "chunks" else self._sentence_articles
        return ids[self._facets.mask(since, until, sources)[owners]]

    def chunk_ids_matching(self, since: datetime | None, until: datetime | None,
                           sources: Sequence[str] | None) -> np.ndarray:
        """Sorted chunk ids of articles dated in [since, until] whose source contains any of
        ``sources`` (case-insensitive).  Undated articles never match a date bound."""
        return self._ids_matching("chunks", since, until, sources)

    def sentence_ids_matching(self, since: datetime | None, until: datetime | None,
                              sources: Sequence[str] | None) -> np.ndarray:
        """Like :meth:`chunk_ids_matching`, for sentence ids."""
        return self._ids_matching("sentences", since, until, sources)

    def undated_articles(self, sources: Sequence[str] | None = None) -> int:
        """How many articles (of ``sources``) have no date, so no date filter can match them."""
        return self._facets.undated(sources)

    def latest_articles(self, n: int) -> list[Article]:
        """The ``n`` most recently indexed articles (ties: newest article date first)."""
        rows = self._query(
            f"SELECT {_ARTICLE_COLS} FROM articles ORDER BY indexed_ts DESC, "
            "COALESCE(date_ts, -1e18) DESC, id LIMIT ?",
            (max(0, int(n)),),
        )
        return [_article_from_row(r) for r in rows]

    def list_articles(self, limit: int | None = None, source: str | None = None) -> list[ArticleListing]:
        """Articles newest first (undated last, then by id), optionally of one source."""
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        rows = self._query(
            f"SELECT id, title, date, source, url FROM articles {where} "
            "ORDER BY date_ts IS NULL, date_ts DESC, id LIMIT ?",
            (*params, -1 if limit is None else max(0, int(limit))),
        )
        return [
            ArticleListing(id=r[0], title=r[1], date=datetime.fromisoformat(r[2]) if r[2] else None,
                           source=r[3], url=r[4])
            for r in rows
        ]

    def about(self) -> IndexAbout:
        """Counts, sources, date range, model, size: what ``index stats`` prints."""
        m = self.manifest
        src_rows = self._query(
            "SELECT COALESCE(source, ''), COUNT(*) FROM articles GROUP BY COALESCE(source, '') "
            "ORDER BY COUNT(*) DESC, COALESCE(source, '') = '', 1"
        )
        dates = self._query(
            "SELECT (SELECT date FROM articles WHERE date_ts IS NOT NULL ORDER BY date_ts LIMIT 1), "
            "(SELECT date FROM articles WHERE date_ts IS NOT NULL ORDER BY date_ts DESC LIMIT 1)"
        )[0]
        return IndexAbout(
            index_dir=str(self.index_dir), version=self.version, model=m.model, index_type=m.index_type,
            dimension=m.model.dimension, articles=m.articles, chunks=m.chunks, sentences=m.sentences,
            sources=[SourceCount(name=name or "(unknown)", articles=n) for name, n in src_rows],
            earliest=datetime.fromisoformat(dates[0]) if dates[0] else None,
            latest=datetime.fromisoformat(dates[1]) if dates[1] else None,
            last_update=m.created_at,
            size_bytes=dir_size(versions_dir(self.index_dir) / self.version),
        )

    def newer_version_available(self) -> bool:
        """True when CURRENT names another version than this reader's (cheap: a stat)."""
        path = self.index_dir / CURRENT_FILE
        try:
            st = path.stat()
        except OSError:
            return False
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._current_key:
            try:
                name = read_current(self.index_dir)
            except IndexCorruptError:
                return False
            self._current_key = key
            self._current_name = name
        return self._current_name is not None and self._current_name != self.version


def index_summary_json(about: IndexAbout) -> dict[str, Any]:
    """The ``index stats --json`` object."""
    data = json.loads(about.model_dump_json())
    data["model"] = about.model.name
    data["model_info"] = json.loads(about.model.model_dump_json())
    return data
