"""What ``watch`` remembers between rounds, in ``INDEX_DIR/live-state.sqlite``.

Per feed: ETag / Last-Modified (conditional GET) and failure backoff. Per item: the hash of
the feed's description of it (unchanged items are not fetched again), the page's validators,
and its backoff. Per indexed article: body and revision hashes (dedup, new vs updated) and
date (retention).

Why it is written only after the index version is published, in one sqlite transaction: if
``watch`` is killed mid-round, the state still describes the last *published* version, so the
next run repeats the unfinished work instead of believing it done (a 304 would otherwise hide
articles that never reached the index).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

STATE_FILE = "live-state.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, title TEXT,
    failures INTEGER NOT NULL DEFAULT 0, retry_round INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY, feed_url TEXT NOT NULL, item_hash TEXT NOT NULL, article_id TEXT,
    page_url TEXT, page_etag TEXT, page_last_modified TEXT, fallback INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0, retry_round INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, body_hash TEXT NOT NULL, revision_hash TEXT NOT NULL, date TEXT);
CREATE INDEX IF NOT EXISTS articles_body ON articles (body_hash);
"""


@dataclass
class FeedRecord:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    failures: int = 0
    retry_round: int = 0
    last_error: str | None = None


@dataclass
class ItemRecord:
    key: str
    feed_url: str
    item_hash: str
    article_id: str | None = None
    page_url: str | None = None
    page_etag: str | None = None
    page_last_modified: str | None = None
    #: Indexed from the feed's summary because the page failed; the page is retried.
    fallback: bool = False
    failures: int = 0
    retry_round: int = 0
    last_error: str | None = None


@dataclass
class ArticleRecord:
    id: str
    body_hash: str
    revision_hash: str
    date: datetime | None = None


def backoff_rounds(failures: int, max_rounds: int) -> int:
    """Rounds to skip after ``failures`` consecutive failures: 0, 1, 3, 7… (capped).

    The first failure is retried next round; a feed that stays down is asked less and less.
    """
    if failures <= 1:
        return 0
    return min(2 ** (failures - 1) - 1, max_rounds)


def _row(cls: type, row: sqlite3.Row) -> Any:
    return cls(**{f.name: row[f.name] for f in fields(cls)})


class LiveState:
    """The state held in memory for a round; :meth:`save` writes what changed, atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.round = 0
        self.feeds: dict[str, FeedRecord] = {}
        self.items: dict[str, ItemRecord] = {}
        self.articles: dict[str, ArticleRecord] = {}
        self._by_body: dict[str, str] = {}
        self._dirty_feeds: set[str] = set()
        self._dirty_items: set[str] = set()
        self._dirty_articles: set[str] = set()
        self._dropped_articles: set[str] = set()

    @classmethod
    def load(cls, index_dir: Path) -> LiveState:
        """The saved state of ``index_dir`` (empty when there is none yet)."""
        state = cls(Path(index_dir) / STATE_FILE)
        if not state.path.exists():
            return state
        with _connect(state.path) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            state.round = int(meta.get("round", 0))
            for row in conn.execute("SELECT * FROM feeds"):
                state.feeds[row["url"]] = _row(FeedRecord, row)
            for row in conn.execute("SELECT * FROM items"):
                rec: ItemRecord = _row(ItemRecord, row)
                rec.fallback = bool(rec.fallback)
                state.items[rec.key] = rec
            for row in conn.execute("SELECT * FROM articles"):
                date = datetime.fromisoformat(row["date"]) if row["date"] else None
                state.articles[row["id"]] = ArticleRecord(
                    row["id"], row["body_hash"], row["revision_hash"], date)
        state._by_body = {a.body_hash: a.id for a in state.articles.values()}
        return state

    # --- mutation (in memory until save) ---
    def put_feed(self, rec: FeedRecord) -> None:
        self.feeds[rec.url] = rec
        self._dirty_feeds.add(rec.url)

    def put_item(self, rec: ItemRecord) -> None:
        self.items[rec.key] = rec
        self._dirty_items.add(rec.key)

    def put_article(self, rec: ArticleRecord) -> None:
        old = self.articles.get(rec.id)
        if old is not None and self._by_body.get(old.body_hash) == rec.id:
            del self._by_body[old.body_hash]
        self.articles[rec.id] = rec
        self._by_body.setdefault(rec.body_hash, rec.id)
        self._dirty_articles.add(rec.id)
        self._dropped_articles.discard(rec.id)

    def drop_article(self, article_id: str) -> None:
        old = self.articles.pop(article_id, None)
        if old is not None and self._by_body.get(old.body_hash) == article_id:
            del self._by_body[old.body_hash]
        self._dirty_articles.discard(article_id)
        self._dropped_articles.add(article_id)

    def article_with_body(self, body_hash: str) -> str | None:
        """The id of an indexed article with this body, if any (the content-hash dedup)."""
        return self._by_body.get(body_hash)

    def due(self, retry_round: int) -> bool:
        """Whether something in backoff until ``retry_round`` may be tried this round."""
        return self.round >= retry_round

    def save(self) -> None:
        """Write the round counter and every changed record in one transaction (crash-safe:
        sqlite's journal makes the transaction all-or-nothing)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _connect(self.path) as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('round', ?)", (str(self.round),))
            for url in self._dirty_feeds:
                f = self.feeds[url]
                conn.execute("INSERT OR REPLACE INTO feeds VALUES (?,?,?,?,?,?,?)",
                             (f.url, f.etag, f.last_modified, f.title, f.failures, f.retry_round,
                              f.last_error))
            for key in self._dirty_items:
                i = self.items[key]
                conn.execute("INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             (i.key, i.feed_url, i.item_hash, i.article_id, i.page_url, i.page_etag,
                              i.page_last_modified, int(i.fallback), i.failures, i.retry_round, i.last_error))
            for aid in self._dirty_articles:
                a = self.articles[aid]
                conn.execute("INSERT OR REPLACE INTO articles VALUES (?,?,?,?)",
                             (a.id, a.body_hash, a.revision_hash, a.date.isoformat() if a.date else None))
            conn.executemany("DELETE FROM articles WHERE id = ?", [(a,) for a in self._dropped_articles])
        self._dirty_feeds.clear()
        self._dirty_items.clear()
        self._dirty_articles.clear()
        self._dropped_articles.clear()


class _connect:
    """A sqlite connection committing on success, rolling back on error, always closed."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
