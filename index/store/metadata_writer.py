"""Writing a staged version's metadata (``meta.sqlite``): :class:`MetadataWriter` (ids from
the ``info`` counters, articles, sentences, chunks, stored embeddings by text hash, garbage
collection) and :func:`copy_metadata` (a new version starts as a copy of the published one).
The schema and the shared helpers are in :mod:`index.store.metadata`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from index.errors import DiskFullError, IndexCorruptError
from index.models import Article, ModelInfo
from index.store.diskspace import is_disk_full
from index.store.metadata import (
    SCHEMA,
    as_table,
    batched,
    placeholders,
    timestamp,
)
from index.store.protocols import ChunkRow, SentenceRow, StoredArticleState, Table


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
        table = as_table(table)
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
        for batch in batched(list(hashes)):
            rows = self.conn.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model = ? "
                f"AND text_hash IN ({placeholders(len(batch))})",
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
        table = as_table(table)
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
        for batch in batched(ids):
            ph = placeholders(len(batch))
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
                (a.id, a.title, a.body, a.date.isoformat() if a.date else None, timestamp(a.date), a.url,
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
