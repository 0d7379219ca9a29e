"""The metadata of a version (``meta.sqlite``): the SQL schema and every query, writer and reader side.

Ids: chunk and sentence ids are int64 handed out from counters kept in the ``info`` table; an
unchanged article keeps its rows (and so its ids) from version to version because every new
version starts as a copy of the previous metadata.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import DiskFullError, IndexCorruptError
from index.models import Article, ArticleListing, Chunk, ModelInfo, Sentence
from index.store.diskspace import is_disk_full
from index.store.protocols import ChunkRow, SentenceRow, StoredArticleState, Table

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

_SQL_BATCH = 900  # stay well under SQLite's bound-parameter limit
_ARTICLE_COLS = "id, title, body, date, url, source, byline, origin"
_SENTENCE_COLS = 'id, article_id, position, start, "end"'
_CHUNK_COLS = 'id, article_id, position, first_sentence, last_sentence, start, "end", n_tokens'


def text_hash(text: str) -> str:
    """Key of an embedding input: sha256 of the exact text that was encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _table(table: str) -> Table:
    if table not in ("chunks", "sentences"):
        raise ValueError(f"unknown table {table!r}")
    return table  # type: ignore[return-value]


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _batched(seq: Sequence[Any], size: int = _SQL_BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _to_ids(values: Sequence[int] | np.ndarray) -> list[int]:
    return [int(v) for v in values]


def _article_from_row(row: Sequence[Any]) -> Article:
    return Article.model_construct(
        id=row[0], title=row[1], body=row[2],
        date=datetime.fromisoformat(row[3]) if row[3] else None,
        url=row[4], source=row[5], byline=row[6], origin=row[7],
    )


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ---------------------------------------------------------------------------------------------
# writer side


def copy_metadata(src_path: Path, dst_path: Path) -> None:
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


class MetadataWriter:
    """A writable ``meta.sqlite`` of a version being written, in one open transaction.

    The file is thrown away on a crash and fsynced before publishing, so the journal and
    per-commit syncs are off (they would only cost time).
    """

    def __init__(self, path: Path) -> None:
        self._dir = path.parent
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.executescript(SCHEMA)
        self.conn.execute("BEGIN")
        self.changed = False

    # -- ids ------------------------------------------------------------------------------
    def _counter(self, key: str, table: Table) -> int:
        row = self.conn.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        stored = int(row[0]) if row else 1
        top = self.conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0]
        return max(stored, int(top))

    def allocate_ids(self, table: Table, n: int) -> int:
        """Reserve ``n`` fresh ids (never reused, even after removals); returns the first."""
        table = _table(table)
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
        """(articles, chunks, sentences)."""
        c = self.conn
        return (
            int(c.execute("SELECT COUNT(*) FROM articles").fetchone()[0]),
            int(c.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]),
            int(c.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]),
        )

    def distinct_inputs(self) -> int:
        """Distinct embedding inputs (text hashes) used by the chunks and sentences."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM (SELECT text_hash FROM chunks UNION SELECT text_hash FROM sentences)"
        ).fetchone()
        return int(row[0])

    def has_vectors(self, model: str) -> bool:
        """Any stored vector of ``model`` (a first build skips the per-text lookups)."""
        row = self.conn.execute("SELECT 1 FROM embeddings WHERE model = ? LIMIT 1", (model,)).fetchone()
        return row is not None

    def sources(self) -> list[str]:
        """The distinct known sources, sorted."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source")]

    def vectors(self, table: Table, model: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, their stored vectors); IndexCorruptError when one has none."""
        table = _table(table)
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
            raise IndexCorruptError(f"{self._dir}: {total - n} {table} have no stored embedding")
        return ids, vecs

    def sentence_texts(self) -> Iterator[tuple[str, int, str]]:
        """(article id, position, text) of every sentence, in id order."""
        yield from self.conn.execute(
            'SELECT s.article_id, s.position, substr(a.body, s.start + 1, s."end" - s.start) '
            "FROM sentences s JOIN articles a ON a.id = s.article_id ORDER BY s.id"
        )

    def chunk_spans(self) -> Iterator[tuple[str, int, int, str]]:
        """(article id, first sentence, last sentence, title) of every chunk, in id order."""
        yield from self.conn.execute(
            "SELECT c.article_id, c.first_sentence, c.last_sentence, a.title "
            "FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"
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

    def insert_sentences(self, rows: Sequence[SentenceRow]) -> None:
        """Rows of (id, article_id, position, start, end, text_hash)."""
        self.conn.executemany(
            'INSERT INTO sentences (id, article_id, position, start, "end", text_hash) '
            "VALUES (?,?,?,?,?,?)",
            rows,
        )

    def insert_chunks(self, rows: Sequence[ChunkRow]) -> None:
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

    def drop_embeddings_of_other_models(self, model: str) -> None:
        self.conn.execute("DELETE FROM embeddings WHERE model != ?", (model,))

    def collect_garbage(self, model: str) -> None:
        """Drop stored vectors no chunk or sentence uses any more (or of another model)."""
        self.conn.execute(
            "DELETE FROM embeddings WHERE model != ? OR (text_hash NOT IN (SELECT text_hash FROM chunks)"
            " AND text_hash NOT IN (SELECT text_hash FROM sentences))",
            (model,),
        )

    def commit(self, model: ModelInfo) -> None:
        """Record the model and commit the open transaction."""
        self.conn.execute(
            "INSERT OR REPLACE INTO info(key, value) VALUES ('model', ?)", (model.model_dump_json(),)
        )
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# reader side


@dataclass(frozen=True)
class ArticleSummary:
    """Counts by source and date range of the articles (``index stats``)."""

    sources: list[tuple[str, int]]  # ('' for unknown, count), most articles first
    earliest: datetime | None
    latest: datetime | None


class MetadataReader:
    """A published ``meta.sqlite``, read-only; safe to share between threads.

    Fetches are single batched queries; article bodies are cached (LRU) because sentence and
    chunk text are slices of them.
    """

    def __init__(self, path: Path, body_cache: int = 2048) -> None:
        """Open ``path``; sqlite3.Error when it is not a readable database."""
        # immutable=1: a published version never changes, so SQLite may skip file locking.
        self._conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True,
                                     check_same_thread=False)
        self._lock = threading.RLock()
        self._articles: OrderedDict[str, Article] = OrderedDict()
        self._body_cache = body_cache
        self._closed = False

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._conn.close()
                self._closed = True

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- whole-table facts (open time) ------------------------------------------------------
    def count_articles(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM articles")[0][0])

    def id_map(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        """Ids of ``table`` in ascending order and, for each, its article's rowid."""
        table = _table(table)
        rows = self._query(
            f"SELECT t.id, a.rowid FROM {table} t JOIN articles a ON a.id = t.article_id ORDER BY t.id"
        )
        arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])

    def facet_rows(self) -> list[tuple[int, float | None, str | None]]:
        """(rowid, date_ts, source) of every article."""
        return self._query("SELECT rowid, date_ts, source FROM articles")

    def id_articles(self, table: Table) -> list[tuple[int, str]]:
        """(id, article id) of every row of ``table``, in id order."""
        table = _table(table)
        return [(int(i), str(a)) for i, a in self._query(f"SELECT id, article_id FROM {table} ORDER BY id")]

    # -- rows by id ---------------------------------------------------------------------------
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
            while len(self._articles) > self._body_cache:
                self._articles.popitem(last=False)
        return out

    def _rows_by_id(self, cols: str, table: Table, ids: Sequence[int] | np.ndarray) -> list[Any]:
        wanted = _to_ids(ids)
        rows: dict[int, Any] = {}
        for batch in _batched(list(dict.fromkeys(wanted))):
            for r in self._query(f"SELECT {cols} FROM {table} WHERE id IN ({_placeholders(len(batch))})",
                                 batch):
                rows[r[0]] = r
        return [rows[i] for i in wanted if i in rows]

    def _sentences_from_rows(self, rows: Sequence[Sequence[Any]]) -> list[Sentence]:
        bodies = self.get_articles([r[1] for r in rows])
        return [
            Sentence.model_construct(id=r[0], article_id=r[1], position=r[2], start=r[3], end=r[4],
                                     text=bodies[r[1]].body[r[3] : r[4]])
            for r in rows
        ]

    def get_sentences(self, ids: Sequence[int] | np.ndarray) -> list[Sentence]:
        """Sentences in the order of ``ids`` (unknown ids are left out), text filled in."""
        return self._sentences_from_rows(self._rows_by_id(_SENTENCE_COLS, "sentences", ids))

    def get_chunks(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        """Chunks in the order of ``ids`` (unknown ids are left out), text filled in."""
        ordered = self._rows_by_id(_CHUNK_COLS, "chunks", ids)
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
            f"SELECT {_SENTENCE_COLS} FROM sentences WHERE article_id = ? AND position BETWEEN ? AND ? "
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

    def sentence_vector_blobs(self, ids: Sequence[int] | np.ndarray, model: str) -> dict[int, bytes]:
        """Stored embedding blobs of the given sentences (those that have one)."""
        found: dict[int, bytes] = {}
        for batch in _batched(list(dict.fromkeys(_to_ids(ids)))):
            for sid, blob in self._query(
                "SELECT s.id, e.vector FROM sentences s JOIN embeddings e "
                "ON e.text_hash = s.text_hash AND e.model = ? "
                f"WHERE s.id IN ({_placeholders(len(batch))})",
                (model, *batch),
            ):
                found[sid] = blob
        return found

    # -- listings -------------------------------------------------------------------------------
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
        return [ArticleListing(id=r[0], title=r[1], date=_date(r[2]), source=r[3], url=r[4]) for r in rows]

    def summary(self) -> ArticleSummary:
        """Articles per source and the date range."""
        src_rows = self._query(
            "SELECT COALESCE(source, ''), COUNT(*) FROM articles GROUP BY COALESCE(source, '') "
            "ORDER BY COUNT(*) DESC, COALESCE(source, '') = '', 1"
        )
        dates = self._query(
            "SELECT (SELECT date FROM articles WHERE date_ts IS NOT NULL ORDER BY date_ts LIMIT 1), "
            "(SELECT date FROM articles WHERE date_ts IS NOT NULL ORDER BY date_ts DESC LIMIT 1)"
        )[0]
        return ArticleSummary([(str(n), int(c)) for n, c in src_rows], _date(dates[0]), _date(dates[1]))

    # -- deep checks (``index verify``) -----------------------------------------------------------
    def quick_check(self) -> str | None:
        """SQLite's own page check: None when ok, else its first complaint."""
        integrity = self._query("PRAGMA quick_check")[0][0]
        return None if integrity == "ok" else str(integrity)

    def consistency_problem(self, model: str, dim: int) -> str | None:
        """The first thing wrong between the tables (orphans, offsets, stored vectors), as one
        line; None when all is well."""
        bad_offsets = self._query(
            'SELECT COUNT(*) FROM chunks c JOIN articles a ON a.id = c.article_id '
            'WHERE c.start < 0 OR c."end" <= c.start OR c."end" > length(a.body)'
        )[0][0]
        bad_offsets += self._query(
            'SELECT COUNT(*) FROM sentences s JOIN articles a ON a.id = s.article_id '
            'WHERE s.start < 0 OR s."end" <= s.start OR s."end" > length(a.body)'
        )[0][0]
        orphans = self._query(
            "SELECT (SELECT COUNT(*) FROM chunks WHERE article_id NOT IN (SELECT id FROM articles))"
            " + (SELECT COUNT(*) FROM sentences WHERE article_id NOT IN (SELECT id FROM articles))"
        )[0][0]
        no_vector = self._query(
            "SELECT (SELECT COUNT(*) FROM chunks t WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.text_hash = t.text_hash AND e.model = ?)) + (SELECT COUNT(*) FROM sentences t "
            "WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.text_hash = t.text_hash "
            "AND e.model = ?))",
            (model, model),
        )[0][0]
        bad_dims = self._query(
            "SELECT COUNT(*) FROM embeddings WHERE model = ? AND length(vector) != ?", (model, dim * 4)
        )[0][0]
        if orphans:
            return f"{orphans} chunks/sentences belong to no article"
        if bad_offsets:
            return f"{bad_offsets} chunks/sentences have offsets outside their article body"
        if no_vector:
            return f"{no_vector} chunks/sentences have no stored embedding"
        if bad_dims:
            return f"{bad_dims} stored embeddings are not {dim}-dimensional float32"
        return None

    def all_ids(self, table: Table) -> np.ndarray:
        """Every id of ``table`` (whether or not its article exists), ascending."""
        table = _table(table)
        rows = self._query(f"SELECT id FROM {table} ORDER BY id")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
