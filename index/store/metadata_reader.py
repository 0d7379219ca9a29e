"""Reading a published version's metadata (``meta.sqlite``): :class:`MetadataReader` (articles
with an LRU of bodies, sentences, chunks, id maps, facets, listings, the consistency checks).
The schema and the shared helpers are in :mod:`index.store.metadata`."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.lru import BoundedLRU
from index.models import Article, ArticleListing, Chunk, Sentence
from index.store.metadata import (
    ARTICLE_COLS,
    CHUNK_COLS,
    SENTENCE_COLS,
    article_from_row,
    as_table,
    batched,
    iso_date,
    placeholders,
    to_ids,
)
from index.store.protocols import Table

#: Position ranges per query of ``sentences_of_articles`` (3 bound values each).
_RANGES = 300


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
        self._articles: BoundedLRU[str, Article] = BoundedLRU(body_cache)
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
        table = as_table(table)
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
        table = as_table(table)
        return [(int(i), str(a)) for i, a in self._query(f"SELECT id, article_id FROM {table} ORDER BY id")]

    # -- rows by id ---------------------------------------------------------------------------
    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        """Articles by id (unknown ids are left out); bodies come from an in-memory LRU."""
        with self._lock:
            out, missing = self._articles.split(ids)
            for batch in batched(missing):
                rows = self._conn.execute(
                    f"SELECT {ARTICLE_COLS} FROM articles WHERE id IN ({placeholders(len(batch))})", batch
                ).fetchall()
                for row in rows:
                    art = article_from_row(row)
                    out[art.id] = art
                    self._articles.put(art.id, art)
        return out

    def _rows_by_id(self, cols: str, table: Table, ids: Sequence[int] | np.ndarray) -> list[Any]:
        wanted = to_ids(ids)
        rows: dict[int, Any] = {}
        for batch in batched(list(dict.fromkeys(wanted))):
            for r in self._query(f"SELECT {cols} FROM {table} WHERE id IN ({placeholders(len(batch))})",
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
        return self._sentences_from_rows(self._rows_by_id(SENTENCE_COLS, "sentences", ids))

    def get_chunks(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        """Chunks in the order of ``ids`` (unknown ids are left out), text filled in."""
        ordered = self._rows_by_id(CHUNK_COLS, "chunks", ids)
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
            f"SELECT {SENTENCE_COLS} FROM sentences WHERE article_id = ? AND position BETWEEN ? AND ? "
            "ORDER BY position",
            (article_id, first, hi),
        )
        return self._sentences_from_rows(rows)

    def sentences_of_articles(self, ranges: Sequence[tuple[str, int, int]]) -> list[Sentence]:
        """The sentences of several ``(article_id, first, last)`` position ranges in one query
        per ``_RANGES`` ranges, ordered by article id, then position."""
        wanted = sorted(set(ranges))
        rows: list[Sequence[Any]] = []
        for i in range(0, len(wanted), _RANGES):
            part = wanted[i : i + _RANGES]
            where = " OR ".join(["(article_id = ? AND position BETWEEN ? AND ?)"] * len(part))
            rows.extend(self._query(f"SELECT {SENTENCE_COLS} FROM sentences WHERE {where}",
                                    tuple(v for r in part for v in r)))
        unique = {int(r[0]): r for r in rows}
        return self._sentences_from_rows(sorted(unique.values(), key=lambda r: (r[1], r[2])))

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
        for batch in batched(list(dict.fromkeys(to_ids(ids)))):
            for sid, blob in self._query(
                "SELECT s.id, e.vector FROM sentences s JOIN embeddings e "
                "ON e.text_hash = s.text_hash AND e.model = ? "
                f"WHERE s.id IN ({placeholders(len(batch))})",
                (model, *batch),
            ):
                found[sid] = blob
        return found

    # -- listings -------------------------------------------------------------------------------
    def latest_articles(self, n: int) -> list[Article]:
        """The ``n`` most recently indexed articles (ties: newest article date first)."""
        rows = self._query(
            f"SELECT {ARTICLE_COLS} FROM articles ORDER BY indexed_ts DESC, "
            "COALESCE(date_ts, -1e18) DESC, id LIMIT ?",
            (max(0, int(n)),),
        )
        return [article_from_row(r) for r in rows]

    def list_articles(self, limit: int | None = None, source: str | None = None) -> list[ArticleListing]:
        """Articles newest first (undated last, then by id), optionally of one source."""
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        rows = self._query(
            f"SELECT id, title, date, source, url FROM articles {where} "
            "ORDER BY date_ts IS NULL, date_ts DESC, id LIMIT ?",
            (*params, -1 if limit is None else max(0, int(limit))),
        )
        return [ArticleListing(id=r[0], title=r[1], date=iso_date(r[2]), source=r[3], url=r[4]) for r in rows]

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
        return ArticleSummary([(str(n), int(c)) for n, c in src_rows], iso_date(dates[0]), iso_date(dates[1]))

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
        table = as_table(table)
        rows = self._query(f"SELECT id FROM {table} ORDER BY id")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
