"""The metadata of a version (``meta.sqlite``): the SQL schema and the helpers every query
shares. The queries are in :mod:`index.store.metadata_writer` (a staged version) and
:mod:`index.store.metadata_reader` (a published one).

Ids: chunk and sentence ids are int64 handed out from counters kept in the ``info`` table; an
unchanged article keeps its rows (and so its ids) from version to version because every new
version starts as a copy of the previous metadata.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from index.models import Article
from index.store.protocols import Table

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

SQL_BATCH = 900  # stay well under SQLite's bound-parameter limit
ARTICLE_COLS = "id, title, body, date, url, source, byline, origin"
SENTENCE_COLS = 'id, article_id, position, start, "end"'
CHUNK_COLS = 'id, article_id, position, first_sentence, last_sentence, start, "end", n_tokens'


def text_hash(text: str) -> str:
    """Key of an embedding input: sha256 of the exact text that was encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_table(table: str) -> Table:
    if table not in ("chunks", "sentences"):
        raise ValueError(f"unknown table {table!r}")
    return table  # type: ignore[return-value]


def timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def batched(seq: Sequence[Any], size: int = SQL_BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def placeholders(n: int) -> str:
    return ",".join("?" * n)


def to_ids(values: Sequence[int] | np.ndarray) -> list[int]:
    return [int(v) for v in values]


def article_from_row(row: Sequence[Any]) -> Article:
    return Article.model_construct(
        id=row[0], title=row[1], body=row[2],
        date=datetime.fromisoformat(row[3]) if row[3] else None,
        url=row[4], source=row[5], byline=row[6], origin=row[7],
    )


def iso_date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
