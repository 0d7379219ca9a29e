"""An in-memory reader with the ``IndexReader`` search/fetch API, built straight from articles.

Why it exists: scoring experiments and unit tests of the answer logic should not depend on
the on-disk store (its build, locking and versioning are tested on their own). It uses the
same sentence splitter, chunk planner, embedding texts and BM25 tokenizer as the real
pipeline, so features computed over it are the features the real index gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.embedding import Embedder
from index.lexical import LexicalIndex, tokenize_many
from index.models import Article, Chunk, Manifest, ModelInfo, Sentence
from index.text import plan_chunks, split_sentences


class MemoryReader:
    """Exact (flat inner product) FAISS and BM25 over chunks and sentences, in memory."""

    def __init__(
        self,
        articles: Iterable[Article],
        embedder: Embedder,
        vectors_batch: int = 128,
        cache: Path | None = None,
    ) -> None:
        self.articles: dict[str, Article] = {}
        self.sentences: list[Sentence] = []
        self.chunks: list[Chunk] = []
        self._by_article: dict[str, list[Sentence]] = {}
        chunk_texts: list[str] = []
        for art in articles:
            if art.id in self.articles:
                continue
            self.articles[art.id] = art
            spans = split_sentences(art.body)
            sents = []
            for pos, (a, b) in enumerate(spans):
                s = Sentence(
                    id=len(self.sentences),
                    article_id=art.id,
                    position=pos,
                    start=a,
                    end=b,
                    text=art.body[a:b],
                )
                self.sentences.append(s)
                sents.append(s)
            self._by_article[art.id] = sents
            if not sents:
                continue
            counts = embedder.count_tokens([s.text for s in sents])
            title_tokens = embedder.count_tokens([art.title])[0] if art.title else 0
            for first, last in plan_chunks(counts, embedder.max_tokens, 1, title_tokens):
                start, end = sents[first].start, sents[last].end
                text = art.body[start:end]
                self.chunks.append(
                    Chunk(
                        id=len(self.chunks),
                        article_id=art.id,
                        position=len(self.chunks),
                        first_sentence=first,
                        last_sentence=last,
                        start=start,
                        end=end,
                        text=text,
                        n_tokens=sum(counts[first : last + 1]),
                    )
                )
                chunk_texts.append(f"{art.title}\n{text}" if art.title else text)
        dim = embedder.info.dimension
        sent_texts = [s.text for s in self.sentences]
        key = hashlib.sha256(
            "\x1f".join([embedder.info.name, *sent_texts, *chunk_texts]).encode()
        ).hexdigest()
        if cache is not None and cache.is_file() and str(np.load(cache)["key"]) == key:
            stored = np.load(cache)
            self._sent_vecs, chunk_vecs = stored["sents"], stored["chunks"]
        else:
            self._sent_vecs = embedder.encode(sent_texts, batch_size=vectors_batch)
            chunk_vecs = embedder.encode(chunk_texts, batch_size=vectors_batch)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cache, key=np.asarray(key), sents=self._sent_vecs, chunks=chunk_vecs)
        self._faiss_chunks = faiss.IndexFlatIP(dim)
        self._faiss_chunks.add(chunk_vecs if len(chunk_vecs) else np.zeros((0, dim), np.float32))
        self._faiss_sents = faiss.IndexFlatIP(dim)
        self._faiss_sents.add(self._sent_vecs if len(self._sent_vecs) else np.zeros((0, dim), np.float32))
        self._chunk_vecs = chunk_vecs
        self.lexical_chunks = LexicalIndex.build(tokenize_many(chunk_texts))
        self.lexical_sentences = LexicalIndex.build(tokenize_many(s.text for s in self.sentences))
        self.version = "memory"
        self.manifest = Manifest(
            version="memory",
            created_at=datetime.now().astimezone(),
            model=embedder.info,
            index_type="flat",
            articles=len(self.articles),
            chunks=len(self.chunks),
            sentences=len(self.sentences),
            max_chunk_tokens=embedder.max_tokens,
        )

    @classmethod
    def open(cls, *args: Any, **kwargs: Any) -> MemoryReader:  # pragma: no cover - API parity
        raise NotImplementedError("MemoryReader is built from articles, not opened")

    # -- searches ------------------------------------------------------------------------

    def _dense(
        self, index: Any, vecs: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if index.ntotal == 0 or k <= 0:
            return []
        if allowed is not None:
            ids = np.asarray(allowed, dtype=np.int64)
            if ids.size == 0:
                return []
            sims = vecs[ids] @ q.reshape(-1)
            top = np.argsort(-sims)[:k]
            return [(int(ids[i]), float(sims[i])) for i in top]
        scores, idx = index.search(q.reshape(1, -1).astype(np.float32), min(k, index.ntotal))
        return [(int(i), float(s)) for s, i in zip(scores[0], idx[0], strict=True) if i >= 0]

    def search_chunks(
        self, vec: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        return self._dense(self._faiss_chunks, self._chunk_vecs, vec, k, allowed_ids)

    def search_sentences(
        self, vec: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        return self._dense(self._faiss_sents, self._sent_vecs, vec, k, allowed_ids)

    def bm25_chunks(
        self, query: str, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        return self.lexical_chunks.search(query, k, allowed_ids)

    def bm25_sentences(
        self, query: str, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        return self.lexical_sentences.search(query, k, allowed_ids)

    # -- fetches -------------------------------------------------------------------------

    def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        return [self.chunks[i] for i in ids if 0 <= i < len(self.chunks)]

    def get_sentences(self, ids: Sequence[int]) -> list[Sentence]:
        return [self.sentences[i] for i in ids if 0 <= i < len(self.sentences)]

    def sentences_of_article(
        self, article_id: str, first: int = 0, last: int | None = None
    ) -> list[Sentence]:
        sents = self._by_article.get(article_id, [])
        return sents[first : (last + 1) if last is not None else None]

    def sentences_of_chunk(self, chunk_id: int) -> list[Sentence]:
        c = self.chunks[chunk_id]
        return self.sentences_of_article(c.article_id, c.first_sentence, c.last_sentence)

    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        return {i: self.articles[i] for i in ids if i in self.articles}

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._sent_vecs[np.asarray(list(ids), dtype=np.int64)]

    def _article_ok(
        self, art: Article, since: datetime | None, until: datetime | None, sources: Sequence[str] | None
    ) -> bool:
        if sources and (art.source or "") not in sources:
            return False
        if since is not None and (art.date is None or art.date < since):
            return False
        return not (until is not None and (art.date is None or art.date > until))

    def chunk_ids_matching(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Sequence[str] | None = None,
    ) -> np.ndarray:
        return np.asarray(
            [
                c.id
                for c in self.chunks
                if self._article_ok(self.articles[c.article_id], since, until, sources)
            ],
            dtype=np.int64,
        )

    def sentence_ids_matching(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Sequence[str] | None = None,
    ) -> np.ndarray:
        return np.asarray(
            [
                s.id
                for s in self.sentences
                if self._article_ok(self.articles[s.article_id], since, until, sources)
            ],
            dtype=np.int64,
        )

    def newer_version_available(self) -> bool:
        return False

    @property
    def model(self) -> ModelInfo:
        return self.manifest.model
