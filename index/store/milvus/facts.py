"""What ``index stats``, ``index list`` and the bot's /about and /latest show, for a Milvus
version: listings over the first row of every article (``part == 0``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pymilvus import MilvusClient

from index.models import ArticleListing, Manifest
from index.store.milvus.connection import MilvusTarget
from index.store.milvus.rows import Row, as_float, as_str, scan
from index.store.milvus.schema import part_name, quote
from index.store.protocols import IndexAbout, SourceCount

_LISTING = ["article_id", "title", "date", "date_ts", "has_date", "source", "url", "indexed_ts"]


def _date(value: object) -> datetime | None:
    text = as_str(value)
    return datetime.fromisoformat(text) if text else None


def listing_rows(client: MilvusClient, articles: str, source: str | None = None) -> list[Row]:
    expr = "part == 0" + (f" and source == {quote(source)}" if source else "")
    return list(scan(client, articles, _LISTING, expr))


def size_bytes(target: MilvusTarget) -> int:
    """Bytes on disk: Milvus Lite 2.5 keeps every collection, so every kept version, in one
    SQLite file, which cannot be split by version; a server reports none (0)."""
    if not target.is_lite:
        return 0
    path = Path(target.uri)
    return path.stat().st_size if path.is_file() else 0


def about(client: MilvusClient, target: MilvusTarget, index_dir: str, version: str,
          m: Manifest) -> IndexAbout:
    rows = listing_rows(client, part_name(target.prefix, version, "articles"))
    by_source: dict[str, int] = {}
    for r in rows:
        name = as_str(r["source"])
        by_source[name] = by_source.get(name, 0) + 1
    order = sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0] == "", kv[0]))
    dated = sorted(((as_float(r["date_ts"]), r) for r in rows if r["has_date"]), key=lambda p: p[0])
    return IndexAbout(
        index_dir=index_dir, version=version, model=m.model, index_type=m.index_type,
        dimension=m.model.dimension, articles=m.articles, chunks=m.chunks, sentences=m.sentences,
        sources=[SourceCount(name=name or "(unknown)", articles=n) for name, n in order],
        earliest=_date(dated[0][1]["date"]) if dated else None,
        latest=_date(dated[-1][1]["date"]) if dated else None, last_update=m.created_at,
        size_bytes=size_bytes(target),
    )


def latest_ids(client: MilvusClient, articles: str, n: int) -> list[str]:
    """Ids of the ``n`` most recently indexed articles (ties: newest article date first)."""
    rows = listing_rows(client, articles)
    rows.sort(key=lambda r: (-as_float(r["indexed_ts"]),
                             -(as_float(r["date_ts"]) if r["has_date"] else -1e18),
                             as_str(r["article_id"])))
    return [as_str(r["article_id"]) for r in rows[: max(0, int(n))]]


def listing(client: MilvusClient, articles: str, limit: int | None,
            source: str | None) -> list[ArticleListing]:
    """Articles newest first (undated last, then by id), optionally of one source."""
    rows = listing_rows(client, articles, source)
    rows.sort(key=lambda r: (not r["has_date"], -as_float(r["date_ts"]), as_str(r["article_id"])))
    if limit is not None:
        rows = rows[: max(0, int(limit))]
    return [ArticleListing(id=as_str(r["article_id"]), title=as_str(r["title"]), date=_date(r["date"]),
                           source=as_str(r["source"]) or None, url=as_str(r["url"]) or None)
            for r in rows]
