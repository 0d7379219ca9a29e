"""The read side used on every question: :class:`IndexReader` over one published version.

Opening runs the checks below in order (each raises :class:`IndexCorruptError` naming the
file); ``index verify`` (:mod:`index.store.verify`) runs the same ones and digs deeper.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexCorruptError
from index.lexical import LexicalIndex
from index.models import Article, ArticleListing, Chunk, Manifest, ModelInfo, Sentence
from index.store.diskspace import dir_size
from index.store.facets import ArticleFacets
from index.store.layout import (
    BM25_CHUNKS,
    BM25_SENTENCES,
    CHUNKS_FAISS,
    CURRENT_FILE,
    META_FILE,
    SENTENCES_FAISS,
    check_model,
    current_key,
    load_manifest,
    read_current,
    require_published,
    version_path,
)
from index.store.lexical import lexical_search, load_lexical
from index.store.metadata_reader import MetadataReader
from index.store.protocols import IndexAbout, SourceCount, Table
from index.store.vectors import FaissIndex, dense_search, read_faiss


def index_summary_json(about: IndexAbout) -> dict[str, Any]:
    """The ``index stats --json`` object."""
    data = json.loads(about.model_dump_json())
    data["model"] = about.model.name
    data["model_info"] = json.loads(about.model.model_dump_json())
    return data


# ---------------------------------------------------------------------------------------------
# the open-time checks (shared with index verify)


def existing_version_dir(index_dir: Path, name: str) -> Path:
    """The directory of version ``name``; IndexCorruptError when it is gone."""
    vpath = version_path(index_dir, name)
    if not vpath.is_dir():
        raise IndexCorruptError(f"{index_dir}: {CURRENT_FILE} names {name} but {vpath} is missing")
    return vpath


def require_files(vpath: Path) -> None:
    """IndexCorruptError naming the first of the metadata and FAISS files that is missing."""
    for fname in (META_FILE, CHUNKS_FAISS, SENTENCES_FAISS):
        if not (vpath / fname).is_file():
            raise IndexCorruptError(f"{vpath / fname}: missing")


@contextlib.contextmanager
def metadata_errors(vpath: Path) -> Iterator[None]:
    """A SQLite error inside becomes IndexCorruptError '<meta.sqlite>: unreadable (...)'."""
    try:
        yield
    except sqlite3.Error as exc:
        raise IndexCorruptError(f"{vpath / META_FILE}: unreadable ({exc})") from None


@dataclass(frozen=True)
class MetadataTables:
    """What a reader keeps in memory from the metadata: ids, their articles, facets."""

    chunk_ids: np.ndarray
    chunk_articles: np.ndarray  # article rowid per chunk id
    sentence_ids: np.ndarray
    sentence_articles: np.ndarray
    facets: ArticleFacets
    n_articles: int

    @classmethod
    def load(cls, meta: MetadataReader, vpath: Path) -> MetadataTables:
        with metadata_errors(vpath):
            chunk_ids, chunk_articles = meta.id_map("chunks")
            sentence_ids, sentence_articles = meta.id_map("sentences")
            facets = ArticleFacets.from_rows(meta.facet_rows())
            n_articles = meta.count_articles()
        return cls(chunk_ids, chunk_articles, sentence_ids, sentence_articles, facets, n_articles)


def open_metadata(vpath: Path, body_cache: int = 2048) -> MetadataReader:
    with metadata_errors(vpath):
        return MetadataReader(vpath / META_FILE, body_cache)


def open_faiss(vpath: Path) -> tuple[FaissIndex, FaissIndex]:
    """(chunks, sentences) FAISS indexes, read-only."""
    return read_faiss(vpath / CHUNKS_FAISS), read_faiss(vpath / SENTENCES_FAISS)


def open_bm25(vpath: Path, mmap: bool = True) -> tuple[LexicalIndex, LexicalIndex]:
    """(chunks, sentences) BM25 indexes."""
    return load_lexical(vpath / BM25_CHUNKS, mmap), load_lexical(vpath / BM25_SENTENCES, mmap)


def count_problems(manifest: Manifest, tables: MetadataTables, chunks_index: FaissIndex,
                   sentences_index: FaissIndex, bm25_chunks: LexicalIndex,
                   bm25_sentences: LexicalIndex) -> str | None:
    """'counts disagree (...)' when manifest, metadata, FAISS and BM25 do not hold the same
    number of articles / chunks / sentences (or FAISS has another dimension); else None."""
    problems = []
    if tables.n_articles != manifest.articles:
        problems.append(f"articles: manifest {manifest.articles}, metadata {tables.n_articles}")
    for what, want, faiss_n, meta_n, bm25_n in (
        ("chunks", manifest.chunks, chunks_index.ntotal, len(tables.chunk_ids), bm25_chunks.num_docs),
        ("sentences", manifest.sentences, sentences_index.ntotal, len(tables.sentence_ids),
         bm25_sentences.num_docs),
    ):
        if not want == faiss_n == meta_n == bm25_n:
            problems.append(f"{what}: manifest {want}, FAISS {faiss_n}, metadata {meta_n}, BM25 {bm25_n}")
    if chunks_index.d != manifest.model.dimension or sentences_index.d != manifest.model.dimension:
        problems.append(f"FAISS dimension differs from the manifest's {manifest.model.dimension}")
    return f"counts disagree ({'; '.join(problems)})" if problems else None


# ---------------------------------------------------------------------------------------------


class IndexReader:
    """A read-only view of one published version; safe to share between threads.

    Opened on version V, it keeps serving V even after a writer publishes V+1 (check
    :meth:`newer_version_available` and reopen).  Metadata fetches are single batched SQL
    queries; article bodies are cached (LRU) because sentence and chunk text are slices of them.
    """

    BODY_CACHE = 2048

    def __init__(self, index_dir: Path, version: str, manifest: Manifest, meta: MetadataReader,
                 tables: MetadataTables, chunks_index: FaissIndex, sentences_index: FaissIndex,
                 bm25_chunks: LexicalIndex, bm25_sentences: LexicalIndex) -> None:
        self.index_dir = index_dir
        self.version = version
        self.manifest = manifest
        self._meta = meta
        # (bench/latency_bench.py swaps the two FAISS indexes for synthetic ones.)
        self._chunks_index = chunks_index
        self._sentences_index = sentences_index
        self._bm25_chunks = bm25_chunks
        self._bm25_sentences = bm25_sentences
        self._chunk_ids = tables.chunk_ids
        self._sentence_ids = tables.sentence_ids
        self._chunk_articles = tables.chunk_articles
        self._sentence_articles = tables.sentence_articles
        self._facets = tables.facets
        self._current_key: tuple[int, int, int] | None = None
        self._current_name: str | None = version

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: Path, expected_model: ModelInfo | None = None,
             version: str | None = None) -> IndexReader:
        """Open the current (or a given) version.

        IndexNotFoundError when nothing is published, ModelMismatchError when
        ``expected_model`` differs from the index's, IndexCorruptError (naming the file) when
        a file is missing or unreadable or the counts of manifest, metadata, FAISS and BM25
        disagree.
        """
        index_dir = Path(index_dir)
        name = version or require_published(index_dir)
        vpath = existing_version_dir(index_dir, name)
        manifest = load_manifest(vpath)
        check_model(manifest, expected_model, index_dir)
        require_files(vpath)
        meta = open_metadata(vpath, cls.BODY_CACHE)
        try:
            tables = MetadataTables.load(meta, vpath)
            chunks_index, sentences_index = open_faiss(vpath)
            bm25_chunks, bm25_sentences = open_bm25(vpath)
            problem = count_problems(manifest, tables, chunks_index, sentences_index, bm25_chunks,
                                     bm25_sentences)
            if problem:
                raise IndexCorruptError(f"{vpath}: {problem}")
        except BaseException:
            meta.close()
            raise
        return cls(index_dir, name, manifest, meta, tables, chunks_index, sentences_index,
                   bm25_chunks, bm25_sentences)

    def close(self) -> None:
        self._meta.close()

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- dense search -----------------------------------------------------------------------
    def search_chunks(self, vector: np.ndarray, k: int,
                      allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, inner product) for a unit query vector, best first."""
        return dense_search(self._chunks_index, vector, k, allowed_ids)

    def search_sentences(self, vector: np.ndarray, k: int,
                         allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (sentence id, inner product), best first."""
        return dense_search(self._sentences_index, vector, k, allowed_ids)

    # -- lexical search ---------------------------------------------------------------------
    def bm25_chunks(self, query: str, k: int,
                    allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score > 0) for a text query (title + chunk text indexed)."""
        return lexical_search(self._bm25_chunks, self._chunk_ids, query, k, allowed_ids)

    def bm25_sentences(self, query: str, k: int,
                       allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (sentence id, BM25 score > 0)."""
        return lexical_search(self._bm25_sentences, self._sentence_ids, query, k, allowed_ids)

    def idf_sentences(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25-style idf of each term over the sentence BM25 index (:meth:`LexicalIndex.idf`)."""
        return self._bm25_sentences.idf(terms)

    @property
    def lexical_chunks(self) -> LexicalIndex:
        """The chunk-level BM25 index (document ``i`` = the ``i``-th chunk id ascending)."""
        return self._bm25_chunks

    @property
    def lexical_sentences(self) -> LexicalIndex:
        """The sentence-level BM25 index (document ``i`` = the ``i``-th sentence id ascending),
        e.g. for term statistics (idf)."""
        return self._bm25_sentences

    # -- metadata ---------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Raw SQL on the metadata. Deprecated: kept for the bench scripts until they use
        :meth:`id_articles`; nothing new should call it."""
        return self._meta._query(sql, params)

    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        """Articles by id (unknown ids are left out); bodies come from an in-memory LRU."""
        return self._meta.get_articles(ids)

    def get_sentences(self, ids: Sequence[int]) -> list[Sentence]:
        """Sentences in the order of ``ids`` (unknown ids are left out), text filled in."""
        return self._meta.get_sentences(ids)

    def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        """Chunks in the order of ``ids`` (unknown ids are left out), text filled in."""
        return self._meta.get_chunks(ids)

    def sentences_of_article(self, article_id: str, first: int = 0,
                             last: int | None = None) -> list[Sentence]:
        """Sentences at positions ``first..last`` (inclusive; ``last=None`` → to the end)."""
        return self._meta.sentences_of_article(article_id, first, last)

    def sentences_of_articles(self, ranges: Sequence[tuple[str, int, int]]) -> list[Sentence]:
        """The sentences of several ``(article_id, first, last)`` ranges, in one query."""
        return self._meta.sentences_of_articles(ranges)

    def sentences_of_chunk(self, chunk_id: int) -> list[Sentence]:
        """The sentences a chunk is made of, in order."""
        return self._meta.sentences_of_chunk(chunk_id)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Stored sentence embeddings, one row per id in the order given (KeyError if unknown).

        Flat and HNSW indexes hold the same float32 vectors as ``meta.sqlite``, so they are
        copied out of the FAISS index by id (~0.1 ms for 100) instead of joined in SQL (~3 ms);
        an unknown id, or an IVF index (no direct map), takes the SQL path."""
        wanted = [int(v) for v in ids]
        index = self._sentences_index
        if wanted and index is not None and self.manifest.index_type != "ivf":
            try:
                found_rows = index.reconstruct_batch(np.asarray(wanted, dtype=np.int64))
                return np.asarray(found_rows, dtype=np.float32)
            except RuntimeError:
                pass  # an id not in the index: the SQL path says which
        found = self._meta.sentence_vector_blobs(wanted, self.manifest.model.name)
        out = np.empty((len(wanted), self.manifest.model.dimension), dtype=np.float32)
        for row, sid in enumerate(wanted):
            blob = found.get(sid)
            if blob is None:
                raise KeyError(f"sentence id {sid} is not in index version {self.version}")
            out[row] = np.frombuffer(blob, dtype=np.float32)
        return out

    def id_articles(self, table: Table) -> list[tuple[int, str]]:
        """(id, article id) of every chunk (``table="chunks"``) or sentence (``"sentences"``),
        in id order."""
        return self._meta.id_articles(table)

    def _ids_matching(self, table: Table, since: datetime | None, until: datetime | None,
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
        return self._meta.latest_articles(n)

    def list_articles(self, limit: int | None = None, source: str | None = None) -> list[ArticleListing]:
        """Articles newest first (undated last, then by id), optionally of one source."""
        return self._meta.list_articles(limit, source)

    def about(self) -> IndexAbout:
        """Counts, sources, date range, model, size: what ``index stats`` prints."""
        m = self.manifest
        summary = self._meta.summary()
        return IndexAbout(
            index_dir=str(self.index_dir), version=self.version, model=m.model, index_type=m.index_type,
            dimension=m.model.dimension, articles=m.articles, chunks=m.chunks, sentences=m.sentences,
            sources=[SourceCount(name=name or "(unknown)", articles=n) for name, n in summary.sources],
            earliest=summary.earliest, latest=summary.latest, last_update=m.created_at,
            size_bytes=dir_size(version_path(self.index_dir, self.version)),
        )

    def newer_version_available(self) -> bool:
        """True when CURRENT names another version than this reader's (cheap: a stat)."""
        key = current_key(self.index_dir)
        if key is None:
            return False
        if key != self._current_key:
            try:
                name = read_current(self.index_dir)
            except IndexCorruptError:
                return False
            self._current_key = key
            self._current_name = name
        return self._current_name is not None and self._current_name != self.version
