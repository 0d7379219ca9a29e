"""A Milvus version being written: :class:`MilvusStaged`, a :class:`StagedChanges`.

It starts as the rows of the previous version (articles, sentence and chunk rows: no vectors),
read out of Milvus into memory; the pipeline changes them; the writer then writes them as new
collections (:mod:`index.store.milvus.publish`).  Vectors stay in Milvus: a text whose vector
the previous version holds is found there by its hash (:meth:`stored_vectors`), and unchanged
rows keep their ids, so publishing copies their vectors by id.  Only vectors encoded in this
run are held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from pymilvus import MilvusClient

from index.models import Article, Manifest
from index.store.milvus.rows import Row, as_float, as_int, as_str, by_keys, scan
from index.store.milvus.schema import Part, part_name
from index.store.protocols import ChunkRow, SentenceRow, StoredArticleState, Table


@dataclass
class StagedArticle:
    article: Article
    body_hash: str
    revision_hash: str
    indexed_ts: float
    sentence_ids: list[int] = field(default_factory=list)
    chunk_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PreviousVersion:
    """Where the previous version's vectors are (None on a first build)."""

    client: MilvusClient
    prefix: str
    version: str
    manifest: Manifest

    def collection(self, part: Part) -> str:
        return part_name(self.prefix, self.version, part)


def article_from_row(row: Row, body: str) -> Article:
    date = as_str(row["date"])
    return Article.model_construct(
        id=as_str(row["article_id"]), title=as_str(row["title"]), body=body,
        date=datetime.fromisoformat(date) if date else None,
        url=as_str(row["url"]) or None, source=as_str(row["source"]) or None,
        byline=as_str(row["byline"]) or None, origin=as_str(row["origin"]) or None,
    )


ARTICLE_FIELDS = ["key", "article_id", "part", "n_parts", "sentence_ids", "title", "body", "date", "url",
                  "source", "byline", "origin", "body_hash", "revision_hash", "indexed_ts"]
SENTENCE_FIELDS = ["id", "article_id", "position", "start", "end", "text_hash"]
CHUNK_FIELDS = ["id", "article_id", "position", "first_sentence", "last_sentence", "start", "end",
                "n_tokens", "text_hash"]


def assemble_articles(rows: Iterable[Row]) -> dict[str, tuple[Row, str]]:
    """(first part's row, whole body) per article id, from article rows in any order."""
    parts: dict[str, list[tuple[int, Row]]] = {}
    for row in rows:
        parts.setdefault(as_str(row["article_id"]), []).append((as_int(row["part"]), row))
    out: dict[str, tuple[Row, str]] = {}
    for aid, pieces in parts.items():
        pieces.sort(key=lambda p: p[0])
        out[aid] = (pieces[0][1], "".join(as_str(r["body"]) for _, r in pieces))
    return out


class MilvusStaged:
    """The rows of a version being written, in memory (see the module docstring)."""

    def __init__(self, previous: PreviousVersion | None, next_ids: tuple[int, int] = (1, 1)) -> None:
        self._prev = previous
        self.articles: dict[str, StagedArticle] = {}
        self.sentences: dict[int, SentenceRow] = {}
        self.chunks: dict[int, ChunkRow] = {}
        self.new_vectors: dict[str, np.ndarray] = {}
        self.next_ids: dict[Table, int] = {"sentences": next_ids[0], "chunks": next_ids[1]}
        self.reuse_previous = previous is not None
        self.changed = False
        self.discarded = False

    @classmethod
    def load(cls, previous: PreviousVersion, next_ids: tuple[int, int]) -> MilvusStaged:
        """The previous version's rows (read in full; the vectors stay in Milvus)."""
        staged = cls(previous, next_ids)
        client = previous.client
        for aid, (row, body) in assemble_articles(
                scan(client, previous.collection("articles"), ARTICLE_FIELDS)).items():
            staged.articles[aid] = StagedArticle(article_from_row(row, body), as_str(row["body_hash"]),
                                                 as_str(row["revision_hash"]), as_float(row["indexed_ts"]))
        for row in scan(client, previous.collection("sentences"), SENTENCE_FIELDS):
            srow: SentenceRow = (as_int(row["id"]), as_str(row["article_id"]), as_int(row["position"]),
                                 as_int(row["start"]), as_int(row["end"]), as_str(row["text_hash"]))
            staged.sentences[srow[0]] = srow
            staged.articles[srow[1]].sentence_ids.append(srow[0])
        for row in scan(client, previous.collection("chunks"), CHUNK_FIELDS):
            crow: ChunkRow = (as_int(row["id"]), as_str(row["article_id"]), as_int(row["position"]),
                              as_int(row["first_sentence"]), as_int(row["last_sentence"]),
                              as_int(row["start"]), as_int(row["end"]), as_int(row["n_tokens"]),
                              as_str(row["text_hash"]))
            staged.chunks[crow[0]] = crow
            staged.articles[crow[1]].chunk_ids.append(crow[0])
        return staged

    # -- StagedChanges ----------------------------------------------------------------------
    @property
    def previous(self) -> str | None:
        return self._prev.version if self._prev else None

    @property
    def previous_manifest(self) -> Manifest | None:
        return self._prev.manifest if self._prev else None

    @property
    def previous_version(self) -> PreviousVersion | None:
        return self._prev

    def allocate_ids(self, table: Table, n: int) -> int:
        first = self.next_ids[table]
        self.next_ids[table] = first + n
        return first

    def article_states(self) -> dict[str, StoredArticleState]:
        return {aid: StoredArticleState(a.revision_hash, a.body_hash,
                                        a.article.date.timestamp() if a.article.date else None,
                                        a.indexed_ts)
                for aid, a in self.articles.items()}

    def stored_vectors(self, hashes: Sequence[str], model: str) -> dict[str, bytes]:
        out = {h: self.new_vectors[h].tobytes() for h in hashes if h in self.new_vectors}
        prev = self._prev
        if prev is None or not self.reuse_previous or prev.manifest.model.name != model:
            return out
        missing = [h for h in hashes if h not in out]
        for table in ("sentences", "chunks"):
            if not missing:
                break
            rows = by_keys(prev.client, prev.collection(table), "text_hash", missing, ["text_hash", "vector"])
            for row in rows:
                vec = np.asarray(row["vector"], dtype=np.float32)
                out.setdefault(as_str(row["text_hash"]), vec.tobytes())
            missing = [h for h in missing if h not in out]
        return out

    def has_vectors(self, model: str) -> bool:
        prev = self._prev
        from_prev = (prev is not None and self.reuse_previous and prev.manifest.model.name == model
                     and bool(self.sentences or self.chunks))
        return from_prev or bool(self.new_vectors)

    def counts(self) -> tuple[int, int, int]:
        return len(self.articles), len(self.chunks), len(self.sentences)

    def distinct_inputs(self) -> int:
        return len({r[5] for r in self.sentences.values()} | {r[8] for r in self.chunks.values()})

    def delete_articles(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        for aid in ids:
            art = self.articles.pop(aid, None)
            if art is None:
                continue
            for sid in art.sentence_ids:
                self.sentences.pop(sid, None)
            for cid in art.chunk_ids:
                self.chunks.pop(cid, None)
        if ids:
            self.changed = True
        return len(ids)

    def insert_articles(self, articles: Sequence[Article], indexed_at: datetime,
                        hashes: Sequence[tuple[str, str]] | None = None) -> None:
        if hashes is None:
            hashes = [(a.body_hash, a.revision_hash) for a in articles]
        ts = indexed_at.astimezone(UTC).timestamp()
        for a, (bh, rh) in zip(articles, hashes, strict=True):
            if a.id in self.articles:
                raise ValueError(f"article {a.id} is already staged")
            self.articles[a.id] = StagedArticle(a, bh, rh, ts)
        if articles:
            self.changed = True

    def insert_sentences(self, rows: Sequence[SentenceRow]) -> None:
        for row in rows:
            self.sentences[row[0]] = row
            self.articles[row[1]].sentence_ids.append(row[0])

    def insert_chunks(self, rows: Sequence[ChunkRow]) -> None:
        for row in rows:
            self.chunks[row[0]] = row
            self.articles[row[1]].chunk_ids.append(row[0])

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray, model: str) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        for h, v in zip(hashes, vecs, strict=True):
            self.new_vectors[h] = v

    def drop_embeddings_of_other_models(self, model: str) -> None:
        if self._prev is not None and self._prev.manifest.model.name != model:
            self.reuse_previous = False

    def discard(self) -> None:
        self.discarded = True
        self.new_vectors.clear()
