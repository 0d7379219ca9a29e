""":class:`MilvusReader`: one published Milvus version, read-only (a ``StoreReader``).

Opened on version V it reads V's collections by name, so it keeps serving V after another
version is published (until keep-N drops V); :meth:`newer_version_available` asks which one is published.
Everything comes from Milvus: dense search on ``vector``, BM25 on the ``sparse`` field Milvus
computes, filters as expressions, text and offsets as fields, idf from the terms collection.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
from pymilvus import MilvusClient

from index.errors import IndexCorruptError, IndexNotFoundError
from index.lru import BoundedLRU
from index.models import Article, ArticleListing, Chunk, Manifest, ModelInfo, Sentence
from index.store.layout import check_model
from index.store.milvus import facts
from index.store.milvus.connection import MilvusTarget, connect, disconnect
from index.store.milvus.filters import filter_expr
from index.store.milvus.pointer import current_version
from index.store.milvus.publish import read_manifest
from index.store.milvus.rows import Row, as_int, as_str, by_keys, count, ids_where, milvus_errors, scan
from index.store.milvus.schema import (
    PARTS,
    Part,
    article_key,
    dense_search_params,
    int_list,
    part_name,
    query_text,
    quote,
)
from index.store.milvus.staging import ARTICLE_FIELDS, article_from_row, assemble_articles
from index.store.protocols import Hits, IndexAbout, Table

_SENTENCE_OUT = ["id", "article_id", "position", "start", "end", "text"]
_CHUNK_OUT = ["id", "article_id", "position", "first_sentence", "last_sentence", "start", "end",
              "n_tokens", "text"]


#: A row type the reader caches by id (a sentence or a chunk).
_Item = TypeVar("_Item", Sentence, Chunk)

def _sentence(row: Row) -> Sentence:
    return Sentence.model_construct(id=as_int(row["id"]), article_id=as_str(row["article_id"]),
                                    position=as_int(row["position"]), start=as_int(row["start"]),
                                    end=as_int(row["end"]), text=as_str(row["text"]))


def _chunk(row: Row) -> Chunk:
    return Chunk.model_construct(
        id=as_int(row["id"]), article_id=as_str(row["article_id"]), position=as_int(row["position"]),
        first_sentence=as_int(row["first_sentence"]), last_sentence=as_int(row["last_sentence"]),
        start=as_int(row["start"]), end=as_int(row["end"]), n_tokens=as_int(row["n_tokens"]),
        text=as_str(row["text"]))


class MilvusReader:
    """A read-only view of one published Milvus version; safe to share between threads."""

    BODY_CACHE = 2048
    #: Sentence vectors kept from the prefetch (~1.5 kB each at 384 dimensions).
    VECTOR_CACHE = 20_000
    _FILTER_CACHE = 64

    def __init__(self, index_dir: str, target: MilvusTarget, client: MilvusClient, version: str,
                 manifest: Manifest) -> None:
        self.index_dir = index_dir
        self.target = target
        self._client = client
        self.version = version
        self.manifest = manifest
        self._names: dict[Part, str] = {p: part_name(target.prefix, version, p) for p in PARTS}
        self._lock = threading.RLock()
        self._articles: BoundedLRU[str, Article] = BoundedLRU(self.BODY_CACHE)
        self._by_article: BoundedLRU[str, list[Sentence]] = BoundedLRU(self.BODY_CACHE)
        self._sentence_ids: BoundedLRU[str, list[int]] = BoundedLRU(self.BODY_CACHE)
        self._filters: BoundedLRU[tuple[str, int, bytes], str] = BoundedLRU(self._FILTER_CACHE)
        self._matching: BoundedLRU[tuple[str, str], np.ndarray] = BoundedLRU(self._FILTER_CACHE)
        self._vectors: BoundedLRU[int, np.ndarray] = BoundedLRU(self.VECTOR_CACHE)
        self._sentences: BoundedLRU[int, Sentence] = BoundedLRU(self.VECTOR_CACHE)
        self._chunks: BoundedLRU[int, Chunk] = BoundedLRU(self.VECTOR_CACHE)
        self._df: BoundedLRU[str, int] = BoundedLRU(self.VECTOR_CACHE)
        self._closed = False

    @classmethod
    def open(cls, index_dir: str, target: MilvusTarget, expected_model: ModelInfo | None = None,
             version: str | None = None) -> MilvusReader:
        """Open the published (or a given) version: IndexNotFoundError when nothing is published,
        ModelMismatchError, IndexCorruptError when a collection is missing or unreadable."""
        client = connect(target, create=False)
        try:
            with milvus_errors(target.describe()):
                name = version or current_version(client, target)
                if name is None:
                    raise IndexNotFoundError(f"no index in {target.describe()} (no {target.published_by}); "
                                             "run `newsbot index build` first")
                manifest, _ = read_manifest(client, target.prefix, name)
                check_model(manifest, expected_model, Path(index_dir))
                for part in PARTS:
                    coll = part_name(target.prefix, name, part)
                    if not client.has_collection(coll):
                        raise IndexCorruptError(f"{target.describe()}: collection {coll} is missing")
                    client.load_collection(coll)
        except BaseException:
            disconnect(target, client)
            raise
        return cls(index_dir, target, client, name, manifest)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                disconnect(self.target, self._client)

    def __enter__(self) -> MilvusReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- search -----------------------------------------------------------------------------
    def _restrict(self, table: Table, allowed_ids: np.ndarray | None) -> str | None:
        """The filter for ``allowed_ids``: the expression that produced them when they came
        from :meth:`chunk_ids_matching`/:meth:`sentence_ids_matching`; None = match nothing."""
        if allowed_ids is None:
            return ""
        ids = np.asarray(allowed_ids, dtype=np.int64)
        if ids.size == 0:
            return None
        with self._lock:
            expr = self._filters.get(self._filter_key(table, ids))
        return expr if expr is not None else f"id in {int_list(ids.tolist())}"

    @staticmethod
    def _filter_key(table: Table, ids: np.ndarray) -> tuple[str, int, bytes]:
        return table, int(ids.size), hashlib.blake2b(np.ascontiguousarray(ids).tobytes(),
                                                     digest_size=16).digest()

    def _search(self, table: Table, field: str, data: list[list[float]] | list[str], k: int,
                params: dict[str, object], allowed_ids: np.ndarray | None) -> Hits:
        """One search; the hits' rows come back with it (output fields, no second query) and
        are kept for :meth:`get_chunks`/:meth:`get_sentences`, which answering calls next."""
        expr = self._restrict(table, allowed_ids)
        if expr is None or k <= 0:
            return []
        out = _CHUNK_OUT if table == "chunks" else _SENTENCE_OUT
        res = self._client.search(self._names[table], data=data, anns_field=field, limit=int(k),
                                  filter=expr, output_fields=out, search_params=params)
        found = list(res[0]) if res else []
        rows = [cast(Row, {**h["entity"], "id": h["id"]}) for h in found]
        with self._lock:
            if table == "chunks":
                self._chunks.update({as_int(r["id"]): _chunk(r) for r in rows})
            else:
                self._sentences.update({as_int(r["id"]): _sentence(r) for r in rows})
        hits = [(int(h["id"]), float(h["distance"])) for h in found]
        return sorted(hits, key=lambda h: (-h[1], h[0]))  # ties in id order, as on FAISS

    def search_chunks(self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> Hits:
        """Top ``k`` (chunk id, inner product) for a unit query vector, best first."""
        vec = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        return self._search("chunks", "vector", [vec], k, dense_search_params(self.manifest.index_type, k),
                            allowed_ids)

    def search_sentences(self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> Hits:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        return self._search("sentences", "vector", [vec], k,
                            dense_search_params(self.manifest.index_type, k), allowed_ids)

    def _bm25(self, table: Table, query: str, k: int, allowed_ids: np.ndarray | None) -> Hits:
        text = query_text(query)
        if not text:
            return []
        hits = self._search(table, "sparse", [text], k, {"metric_type": "BM25"}, allowed_ids)
        # Milvus Lite reports BM25 as a negative distance; the score is its size.
        scored = [(i, abs(s)) for i, s in hits]
        return sorted((h for h in scored if h[1] > 0), key=lambda h: (-h[1], h[0]))

    def bm25_chunks(self, query: str, k: int, allowed_ids: np.ndarray | None = None) -> Hits:
        """Top ``k`` (chunk id, BM25 score > 0) by Milvus' BM25 over title + chunk terms."""
        return self._bm25("chunks", query, k, allowed_ids)

    def bm25_sentences(self, query: str, k: int, allowed_ids: np.ndarray | None = None) -> Hits:
        return self._bm25("sentences", query, k, allowed_ids)

    def idf_sentences(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25-style idf from the version's term statistics (the terms collection)."""
        n = float(self.manifest.sentences)
        if n == 0:
            return {t: 1.0 for t in terms}
        wanted = [t for t in dict.fromkeys(terms) if t]
        with self._lock:
            df, missing = self._df.split(wanted)
        if missing:
            fetched = {t: 0 for t in missing}  # a term no sentence has: df 0, remembered too
            for row in by_keys(self._client, self._names["terms"], "term", missing, ["term", "df"]):
                fetched[as_str(row["term"])] = as_int(row["df"])
            df.update(fetched)
            with self._lock:
                self._df.update(fetched)
        return {t: math.log(1.0 + (n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in terms}

    def _ids_matching(self, table: Table, since: datetime | None, until: datetime | None,
                      sources: Sequence[str] | None) -> np.ndarray:
        expr = filter_expr(since, until, sources, self.manifest.sources)
        with self._lock:  # a version never changes: the same filter selects the same ids
            ids = self._matching.get((table, expr))
        if ids is None:
            ids = ids_where(self._client, self._names[table], expr)
            with self._lock:
                self._matching.put((table, expr), ids)
                if expr:
                    self._filters.put(self._filter_key(table, ids), expr)
        return ids.copy()

    def chunk_ids_matching(self, since: datetime | None, until: datetime | None,
                           sources: Sequence[str] | None) -> np.ndarray:
        return self._ids_matching("chunks", since, until, sources)

    def sentence_ids_matching(self, since: datetime | None, until: datetime | None,
                              sources: Sequence[str] | None) -> np.ndarray:
        return self._ids_matching("sentences", since, until, sources)

    # -- fetch --------------------------------------------------------------------------------
    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        with self._lock:
            out, missing = self._articles.split(ids)
        if missing:
            name = self._names["articles"]
            rows = by_keys(self._client, name, "key", [article_key(a) for a in missing], ARTICLE_FIELDS)
            more = [article_key(as_str(r["article_id"]), p)
                    for r in rows for p in range(1, as_int(r["n_parts"]))]
            if more:  # bodies longer than one row
                rows += by_keys(self._client, name, "key", more, ARTICLE_FIELDS)
            assembled = assemble_articles(rows)
            fetched = {aid: article_from_row(row, body) for aid, (row, body) in assembled.items()}
            sentence_ids = {aid: [int(i) for i in as_str(row["sentence_ids"]).split(",") if i]
                            for aid, (row, _) in assembled.items()}
            out.update(fetched)
            with self._lock:
                self._articles.update(fetched)
                self._sentence_ids.update(sentence_ids)
        return out

    def _cached_rows(self, ids: Sequence[int], table: Table, cache: BoundedLRU[int, _Item],
                     fields: list[str], convert: Callable[[Row], _Item]) -> list[_Item]:
        """Rows by id in the order given (unknown ids left out): cached ones (a search's hits
        are), then one query for the rest, which are cached in turn."""
        wanted = [int(i) for i in ids]
        with self._lock:
            found, missing = cache.split(wanted)
        if missing:
            fetched = {as_int(r["id"]): convert(r)
                       for r in by_keys(self._client, self._names[table], "id", missing, fields)}
            found.update(fetched)
            with self._lock:
                cache.update(fetched)
        return [found[i] for i in wanted if i in found]

    def get_sentences(self, ids: Sequence[int]) -> list[Sentence]:
        return self._cached_rows(ids, "sentences", self._sentences, _SENTENCE_OUT, _sentence)

    def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        return self._cached_rows(ids, "chunks", self._chunks, _CHUNK_OUT, _chunk)

    def sentences_of_article(self, article_id: str, first: int = 0,
                             last: int | None = None) -> list[Sentence]:
        """Sentences at positions ``first..last``: an article's sentences are fetched once (one
        query) and kept in an LRU, since answering asks for the lead and the neighbours of
        every candidate."""
        with self._lock:
            cached = self._by_article.get(article_id)
        if cached is None:
            with self._lock:
                ids = self._sentence_ids.get(article_id)
            if ids is None and self.get_articles([article_id]):
                with self._lock:
                    ids = self._sentence_ids.get(article_id)
            if ids:  # a primary-key lookup
                rows = by_keys(self._client, self._names["sentences"], "id", ids, _SENTENCE_OUT)
            else:  # unknown article, or one with too many sentences to list: a scan
                rows = self._client.query(self._names["sentences"], output_fields=_SENTENCE_OUT,
                                          filter=f"article_id == {quote(article_id)}")
            cached = sorted((_sentence(r) for r in rows), key=lambda s: s.position)
            with self._lock:
                self._by_article.put(article_id, cached)
        hi = last if last is not None else 2**62
        return [s for s in cached if first <= s.position <= hi]

    def sentences_of_articles(self, ranges: Sequence[tuple[str, int, int]]) -> list[Sentence]:
        """The sentences of several ``(article_id, first, last)`` ranges, in two queries for
        all of them: the articles' rows (cached) list their sentence ids in position order, so
        a range is a slice of that list; then those sentences by primary key, with their
        vectors, which stay cached for :meth:`sentence_vectors` (a version never changes)."""
        with self._lock:
            unknown = [a for a in dict.fromkeys(aid for aid, _, _ in ranges) if a not in self._sentence_ids]
        if unknown:
            self.get_articles(unknown)
        picked: dict[int, Sentence] = {}
        wanted: list[int] = []
        for aid, first, last in ranges:
            with self._lock:
                listed = self._sentence_ids.get(aid)
            if not listed:  # unknown article, or too many sentences to list on its row
                picked.update((s.id, s) for s in self.sentences_of_article(aid, first, last))
                continue
            wanted.extend(listed[max(0, first) : max(0, last + 1)])
        with self._lock:
            for sid in wanted:  # cached with its vector (a search hit's row has none)
                hit = self._sentences.get(sid)
                if hit is not None and sid in self._vectors:
                    picked[sid] = hit
        todo = [i for i in dict.fromkeys(wanted) if i not in picked]
        if todo:
            rows = by_keys(self._client, self._names["sentences"], "id", todo, [*_SENTENCE_OUT, "vector"])
            with self._lock:
                for row in rows:
                    sent = _sentence(row)
                    picked[sent.id] = sent
                    self._sentences.put(sent.id, sent)
                    self._vectors.put(sent.id, np.asarray(row["vector"], dtype=np.float32))
        return sorted(picked.values(), key=lambda s: (s.article_id, s.position))

    def sentences_of_chunk(self, chunk_id: int) -> list[Sentence]:
        found = self.get_chunks([chunk_id])
        if not found:
            return []
        c = found[0]
        return self.sentences_of_article(c.article_id, c.first_sentence, c.last_sentence)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        wanted = [int(v) for v in ids]
        with self._lock:
            found: dict[int, object] = {i: self._vectors[i] for i in wanted if i in self._vectors}
        missing = [i for i in wanted if i not in found]
        if missing:
            rows = by_keys(self._client, self._names["sentences"], "id", missing, ["id", "vector"])
            found.update({as_int(r["id"]): r["vector"] for r in rows})
        out = np.empty((len(wanted), self.manifest.model.dimension), dtype=np.float32)
        for i, sid in enumerate(wanted):
            if sid not in found:
                raise KeyError(f"sentence id {sid} is not in index version {self.version}")
            out[i] = np.asarray(found[sid], dtype=np.float32)
        return out

    def id_articles(self, table: Table) -> list[tuple[int, str]]:
        rows = scan(self._client, self._names[table], ["id", "article_id"])
        return sorted((as_int(r["id"]), as_str(r["article_id"])) for r in rows)

    # -- facts (index.store.milvus.facts) ---------------------------------------------------
    def about(self) -> IndexAbout:
        """Counts, sources, date range, model, size: what ``index stats`` prints."""
        return facts.about(self._client, self.target, self.index_dir, self.version, self.manifest)

    def latest_articles(self, n: int) -> list[Article]:
        """The ``n`` most recently indexed articles (ties: newest article date first)."""
        ids = facts.latest_ids(self._client, self._names["articles"], n)
        found = self.get_articles(ids)
        return [found[i] for i in ids if i in found]

    def list_articles(self, limit: int | None = None, source: str | None = None) -> list[ArticleListing]:
        """Articles newest first (undated last, then by id), optionally of one source."""
        return facts.listing(self._client, self._names["articles"], limit, source)

    def undated_articles(self, sources: Sequence[str] | None = None) -> int:
        expr = filter_expr(None, None, sources, self.manifest.sources)
        return count(self._client, self._names["articles"],
                     "part == 0 and has_date == false" + (f" and {expr}" if expr else ""))

    def newer_version_available(self) -> bool:
        """True when another version is now published than this reader's."""
        try:
            name = current_version(self._client, self.target)
        except Exception:
            return False
        return name is not None and name != self.version
