"""The one typed store interface: what the pipeline, live updates and retrieval use.

:class:`StoreReader` (search dense and lexical over chunks and sentences, term statistics,
fetch, facts) and :class:`StoreWriter` (stage a new version, change its rows, publish it) are
implemented by :class:`~index.store.reader.IndexReader` and
:class:`~index.store.writer.IndexWriter` (FAISS + SQLite + bm25s); a second backend implements
the same protocols.  The data types
that cross the interface live here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from index.models import Article, ArticleListing, Chunk, Manifest, ModelInfo, Sentence

#: The two kinds of searchable rows.
Table = Literal["chunks", "sentences"]
#: How the dense index searches: exact, HNSW graph, IVF clusters.
IndexType = Literal["flat", "hnsw", "ivf"]
#: (id, article_id, position, start, end, text_hash)
SentenceRow = tuple[int, str, int, int, int, str]
#: (id, article_id, position, first_sentence, last_sentence, start, end, n_tokens, text_hash)
ChunkRow = tuple[int, str, int, int, int, int, int, int, str]
#: (id, score), best first
Hits = list[tuple[int, float]]


@dataclass(frozen=True)
class StoredArticleState:
    """What a writer needs to know about an article already in the index."""

    revision_hash: str
    body_hash: str
    date_ts: float | None
    indexed_ts: float


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


class StoreReader(Protocol):
    """One published version, read-only; safe to share between threads."""

    @property
    def version(self) -> str: ...

    @property
    def manifest(self) -> Manifest: ...

    # -- search (ids with scores, best first; ``allowed_ids`` restricts to those ids) ------------
    def search_chunks(self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> Hits: ...

    def search_sentences(self, vector: np.ndarray, k: int,
                         allowed_ids: np.ndarray | None = None) -> Hits: ...

    def bm25_chunks(self, query: str, k: int, allowed_ids: np.ndarray | None = None) -> Hits: ...

    def bm25_sentences(self, query: str, k: int, allowed_ids: np.ndarray | None = None) -> Hits: ...

    def idf_sentences(self, terms: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each (already tokenized, ``index.textproc``) term over
        the sentences, BM25-style ``log(1 + (N - df + 0.5) / (df + 0.5))``: rare names weigh
        more than common words; a term in no sentence has df 0; an empty store gives 1.0."""
        ...

    def chunk_ids_matching(self, since: datetime | None, until: datetime | None,
                           sources: Sequence[str] | None) -> np.ndarray: ...

    def sentence_ids_matching(self, since: datetime | None, until: datetime | None,
                              sources: Sequence[str] | None) -> np.ndarray: ...

    # -- fetch --------------------------------------------------------------------------------
    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]: ...

    def get_sentences(self, ids: Sequence[int]) -> list[Sentence]: ...

    def get_chunks(self, ids: Sequence[int]) -> list[Chunk]: ...

    def sentences_of_article(self, article_id: str, first: int = 0,
                             last: int | None = None) -> list[Sentence]: ...

    def sentences_of_articles(self, ranges: Sequence[tuple[str, int, int]]) -> list[Sentence]:
        """The sentences at positions ``first..last`` (inclusive) of each ``(article_id, first,
        last)``, fetched together (one query per collection, not one per article): ordered by
        article id, then position; each sentence once."""
        ...

    def sentences_of_chunk(self, chunk_id: int) -> list[Sentence]: ...

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray: ...

    def id_articles(self, table: Table) -> list[tuple[int, str]]: ...

    # -- facts --------------------------------------------------------------------------------
    def about(self) -> IndexAbout: ...

    def latest_articles(self, n: int) -> list[Article]: ...

    def list_articles(self, limit: int | None = None, source: str | None = None) -> list[ArticleListing]: ...

    def undated_articles(self, sources: Sequence[str] | None = None) -> int: ...

    def newer_version_available(self) -> bool: ...

    def close(self) -> None: ...


class StagedChanges(Protocol):
    """A version being written: the rows of the previous one, changed, then published."""

    @property
    def previous(self) -> str | None: ...

    @property
    def previous_manifest(self) -> Manifest | None: ...

    @property
    def changed(self) -> bool: ...

    def allocate_ids(self, table: Table, n: int) -> int: ...

    def article_states(self) -> dict[str, StoredArticleState]: ...

    def stored_vectors(self, hashes: Sequence[str], model: str) -> dict[str, bytes]: ...

    def has_vectors(self, model: str) -> bool: ...

    def counts(self) -> tuple[int, int, int]: ...

    def distinct_inputs(self) -> int: ...

    def delete_articles(self, ids: Iterable[str]) -> int: ...

    def insert_articles(self, articles: Sequence[Article], indexed_at: datetime,
                        hashes: Sequence[tuple[str, str]] | None = None) -> None: ...

    def insert_sentences(self, rows: Sequence[SentenceRow]) -> None: ...

    def insert_chunks(self, rows: Sequence[ChunkRow]) -> None: ...

    def put_vectors(self, hashes: Sequence[str], vectors: np.ndarray, model: str) -> None: ...

    def drop_embeddings_of_other_models(self, model: str) -> None: ...

    def discard(self) -> None: ...


S = TypeVar("S", bound=StagedChanges)


class StoreWriter(Protocol[S]):
    """The single writer of an index (used as a context manager that holds its lock)."""

    @property
    def index_dir(self) -> Path: ...

    def stage(self, fresh_if_broken: bool = False) -> S: ...

    def publish(self, staged: S, model: ModelInfo, index_type: IndexType,
                max_chunk_tokens: int) -> Manifest: ...

    def drop_version(self, name: str) -> None: ...
