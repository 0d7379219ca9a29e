"""``Answerer``: question in, cited sentences (or "I don't know") out.

Per question the work is deliberately small: one query encode (the only model call), four
top-k searches (FAISS and BM25, over chunks and over sentences), a few SQLite fetches, and
numpy over ~100 candidate sentences whose vectors were stored at index time.
The candidates are gathered in :mod:`retrieval.candidates`; suggestions and the passage
around a cited sentence in :mod:`retrieval.passages`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.embedding import Embedder, load_embedder, threads_for
from index.models import Article
from index.settings import load_index_settings
from retrieval import rerank, scoring
from retrieval.candidates import Gathered, Retrieval, gather_candidates
from retrieval.fusion import rrf
from retrieval.models import Answer, AnswerSentence, Filters, Passage, Suggestion, Turn
from retrieval.passages import passage_around, suggestions
from retrieval.query import expand_for_search, merge_filters, parse_time_words, resolve_followup
from retrieval.reader import Reader
from retrieval.reader_pairs import Phrase, ReaderPair, Reading
from retrieval.settings import RetrievalSettings, load_retrieval_settings

if TYPE_CHECKING:  # the store (FAISS, SQLite) is imported only where the index is opened
    from index.store import StoreReader


def marked(phrase: Phrase | None, min_margin: float) -> tuple[int, int] | None:
    """The answer phrase's offsets in the sentence, when the reader is sure enough of it."""
    if phrase is None or phrase.margin < min_margin or phrase.end <= phrase.start:
        return None
    return phrase.start, phrase.end


def _day_bounds(f: Filters) -> tuple[datetime | None, datetime | None]:
    """Inclusive day range → aware datetimes [since 00:00, until 23:59:59.999999] UTC."""
    since = datetime.combine(f.since, dtime.min, tzinfo=UTC) if f.since else None
    until = datetime.combine(f.until, dtime.max, tzinfo=UTC) if f.until else None
    return since, until


class Answerer:
    """Answers questions from one index directory; load once, ask many times (thread-safe)."""

    def __init__(
        self,
        index_dir: str | Path,
        settings: RetrievalSettings | None = None,
        embedder: Embedder | None = None,
        reader: StoreReader | None = None,
        answer_reader: Reader | None = None,
    ) -> None:
        """``reader``: an open index (default: open ``index_dir``). ``answer_reader``: the
        cross-encoder that reads the best candidates (default: the shipped one, unless
        ``settings.reader_candidates`` is 0)."""
        self.index_dir = Path(index_dir)
        self.settings = settings or load_retrieval_settings()
        isettings = load_index_settings()
        if reader is None:
            from index.store import require_published

            require_published(self.index_dir)  # before the models load: they take seconds
        if embedder is None:
            # Answering is interactive: one short question at a time (threads_for says why).
            embedder = load_embedder(isettings.model, threads_for(isettings.torch_threads, "interactive"),
                                     isettings.precision, isettings.query_runtime, isettings.cache_dir)
        self.embedder = embedder
        if answer_reader is None and self.settings.reader_candidates > 0:
            from retrieval.reader import configured_reader

            answer_reader = configured_reader(self.settings, isettings)
        self.answer_reader = answer_reader
        self._lock = threading.Lock()
        self._reader: StoreReader = reader if reader is not None else self._open()
        self._idf_cache: dict[str, float] = {}

    # -- index lifecycle -------------------------------------------------------------------

    def _open(self) -> StoreReader:
        """The one place retrieval opens the store (the backend ``NEWSBOT_BACKEND`` names);
        everything else uses ``StoreReader``."""
        from index.store import open_store_reader

        return open_store_reader(self.index_dir, expected_model=self.embedder.info)

    @property
    def reader(self) -> StoreReader:
        return self._reader

    def reload_if_newer(self) -> bool:
        """Reopen the index when a newer version was published; True when it swapped.

        The swap is one attribute assignment under a lock: a question already running keeps
        the reader it started with (its version's files stay on disk), new ones get the new one.
        """
        if not self._reader.newer_version_available():
            return False
        with self._lock:
            if not self._reader.newer_version_available():
                return False
            fresh = self._open()
            self._reader = fresh
            self._idf_cache = {}
        return True

    # -- asking ----------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: Sequence[Turn] | None = None,
        filters: Filters | None = None,
        now: datetime | None = None,
    ) -> Answer:
        """The answer to ``question``, resolving a follow-up against ``history``."""
        t0 = time.perf_counter()
        reader = self._reader  # one reader for the whole question, even if a reload happens
        s = self.settings
        question = " ".join(question.split())
        res = resolve_followup(question, list(history) if history else None)
        words = parse_time_words(question, now) if s.time_words else None
        applied = merge_filters(filters, words) if words else (filters or Filters())
        notes: list[str] = []
        if not question:
            return Answer(question=question, answered=False, confidence=0.0, notes=["empty question"])

        allowed_chunks, allowed_sents = self._allowed(reader, applied)
        explicit_dates = filters is not None and (filters.since or filters.until)
        if (
            allowed_chunks is not None
            and allowed_chunks.size == 0
            and words is not None
            and (words.since or words.until)
            and not explicit_dates
        ):
            # "this week" but nothing is dated this week: answer from everything, and say so.
            notes.append(f"nothing dated '{words.matched}'; searched all articles")
            applied = merge_filters(filters, parse_time_words("", now))
            allowed_chunks, allowed_sents = self._allowed(reader, applied)
        if applied.since is not None or applied.until is not None:
            undated = reader.undated_articles(applied.sources or None)
            if undated:
                plural = "s" if undated != 1 else ""
                notes.append(f"{undated:,} undated article{plural} left out by the date filter")
        if allowed_chunks is not None and allowed_chunks.size == 0:
            notes.append("no article matches the filters")
            return Answer(
                question=question,
                answered=False,
                confidence=0.0,
                resolved_question=res.resolved,
                filters=applied,
                notes=notes,
                elapsed_ms=(time.perf_counter() - t0) * 1000,
                index_version=reader.version,
            )

        q = res.query_info()
        r = self.retrieve(res.resolved, allowed_chunks, allowed_sents, reader=reader)
        t_score = time.perf_counter()
        cands, vecs, prev_vecs, articles, sent_by_id = self._candidates(reader, r, set(res.prefer_articles))
        r.timings["fetch_ms"] = (time.perf_counter() - t_score) * 1000
        t_score = time.perf_counter()
        idf = self._idf(reader, q.terms + q.context_terms)
        recency = 0.5 if (words is not None and words.latest) else 0.05
        scored = scoring.score(q, r.qvec, cands, vecs, prev_vecs, idf, recency=recency)
        r.timings["score_ms"] = (time.perf_counter() - t_score) * 1000
        t_read = time.perf_counter()
        reading = self.read_pairs(res.resolved, scored, s.reader_candidates)
        # Candidate index -> the phrase the reader marked in it (reranking keeps the indices).
        phrases = dict(zip(scored.order, reading.phrases, strict=False))
        scored = rerank.rerank(scored, reading.logits) if len(reading.logits) else scored
        r.timings["reader_ms"] = (time.perf_counter() - t_read) * 1000
        conf = rerank.answer_confidence(scored)
        answered = bool(scored.order) and conf >= s.confidence_threshold
        chosen = scoring.select(scored, s.max_sentences, s.max_gap)
        alt = scoring.select(scored, s.max_alternatives, 1e9, skip=len(chosen)) if scored.order else []

        def cite(i: int) -> AnswerSentence:
            c = scored.candidates[i]
            a = articles[c.article_id]
            sent = sent_by_id[c.sentence_id]
            return AnswerSentence(
                text=c.text,
                article_id=c.article_id,
                title=a.title,
                source=a.source,
                date=a.date,
                url=a.url,
                score=round(float(scored.logits[i]), 4),
                sentence_id=c.sentence_id,
                start=sent.start,
                end=sent.end,
                position=sent.position,
                answer_span=marked(phrases.get(i), s.phrase_min_margin),
            )

        sentences = [cite(i) for i in chosen] if answered else []
        alternatives = [cite(i) for i in (alt if answered else chosen + alt)]
        suggestions = [] if answered else self._suggestions(reader, r, articles)
        elapsed = (time.perf_counter() - t0) * 1000
        r.timings["total_ms"] = elapsed
        return Answer(
            question=question,
            answered=answered,
            confidence=round(conf, 4),
            sentences=sentences,
            suggestions=suggestions,
            resolved_question=res.resolved,
            alternatives=alternatives,
            filters=applied,
            notes=notes,
            elapsed_ms=round(elapsed, 2),
            index_version=reader.version,
            timings_ms={k: round(v, 3) for k, v in r.timings.items()},
        )

    def explain(
        self,
        question: str,
        history: Sequence[Turn] | None = None,
        qvec: np.ndarray | None = None,
        allowed: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[scoring.Scored, Retrieval]:
        """The scored candidates behind an answer (no filters): for benchmarks and debugging.

        ``qvec``: the resolved question's vector when the caller encoded questions in bulk.
        ``allowed``: the chunk and sentence ids searched (None: all), e.g. every article but
        the one that answers, to see what an uncovered question looks like.
        """
        reader = self._reader
        res = resolve_followup(" ".join(question.split()), list(history) if history else None)
        q = res.query_info()
        chunks, sents = allowed if allowed is not None else (None, None)
        r = self.retrieve(res.resolved, chunks, sents, reader=reader, qvec=qvec)
        cands, vecs, prev_vecs, _, _ = self._candidates(reader, r, set(res.prefer_articles))
        idf = self._idf(reader, q.terms + q.context_terms)
        return scoring.score(q, r.qvec, cands, vecs, prev_vecs, idf), r

    def read(self, question: str, scored: scoring.Scored, n: int) -> np.ndarray:
        """The reader's logits for the best ``n`` candidates of ``scored`` (in its order)."""
        return self.read_pairs(question, scored, n).logits

    def read_pairs(self, question: str, scored: scoring.Scored, n: int) -> Reading:
        """What the reader makes of the best ``n`` candidates of ``scored`` (in its order):
        logits and marked phrases (nothing when there is no reader)."""
        if self.answer_reader is None or n <= 0 or not scored.order:
            return Reading(np.zeros(0, dtype=np.float32), [])
        pairs = [
            ReaderPair(question, c.text, c.title, c.prev_text)
            for c in (scored.candidates[i] for i in scored.order[:n])
        ]
        return self.answer_reader.read(pairs)

    # -- the steps -------------------------------------------------------------------------

    def _allowed(self, reader: StoreReader, f: Filters) -> tuple[np.ndarray | None, np.ndarray | None]:
        if f.is_empty():
            return None, None
        since, until = _day_bounds(f)
        sources = f.sources or None
        return (
            np.asarray(reader.chunk_ids_matching(since, until, sources), dtype=np.int64),
            np.asarray(reader.sentence_ids_matching(since, until, sources), dtype=np.int64),
        )

    def encode(self, text: str) -> np.ndarray:
        """The query vector (the one model call per question)."""
        return np.asarray(self.embedder.encode([text])[0], dtype=np.float32)

    def retrieve(
        self,
        text: str,
        allowed_chunks: np.ndarray | None = None,
        allowed_sents: np.ndarray | None = None,
        reader: StoreReader | None = None,
        qvec: np.ndarray | None = None,
    ) -> Retrieval:
        """The four searches and the fused passage ranking for ``text``."""
        reader = reader if reader is not None else self._reader
        s = self.settings
        r = Retrieval()
        t = time.perf_counter()
        r.qvec = self.encode(text) if qvec is None else qvec
        r.timings["encode_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        r.dense_chunks = reader.search_chunks(r.qvec, s.search_k, allowed_chunks)
        r.dense_sentences = reader.search_sentences(r.qvec, s.search_k, allowed_sents)
        r.timings["faiss_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        keywords = expand_for_search(text)
        r.bm25_chunks = reader.bm25_chunks(keywords, s.search_k, allowed_chunks)
        r.bm25_sentences = reader.bm25_sentences(keywords, s.search_k, allowed_sents)
        r.timings["bm25_ms"] = (time.perf_counter() - t) * 1000
        fused = rrf([[i for i, _ in r.dense_chunks], [i for i, _ in r.bm25_chunks]])
        r.fused_chunk_scores = fused
        r.fused_chunks = sorted(fused, key=lambda k: -fused[k])
        return r

    def _candidates(self, reader: StoreReader, r: Retrieval, preferred: set[str]) -> Gathered:
        """Candidate sentences, their vectors and articles (:func:`gather_candidates`)."""
        return gather_candidates(reader, r, preferred, self.settings, self.embedder.info.dimension)

    def _idf(self, reader: StoreReader, terms: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of terms over the sentence BM25 index (cached)."""
        out: dict[str, float] = {}
        missing = [t for t in terms if t not in self._idf_cache]
        if missing:
            for t, v in _bm25_idf(reader, missing).items():
                self._idf_cache[t] = v
        for t in terms:
            out[t] = self._idf_cache.get(t, 1.0)
        return out

    def _suggestions(self, reader: StoreReader, r: Retrieval,
                     articles: dict[str, Article]) -> list[Suggestion]:
        """The closest articles (by fused passage score) when we do not answer."""
        return suggestions(reader, r, articles, self.settings)

    # -- context ---------------------------------------------------------------------------

    def context(self, sentence_id: int, window: int = 2) -> Passage:
        """The sentences around a cited one (``window`` before and after), for "Source"."""
        return passage_around(self._reader, sentence_id, window)


def _bm25_idf(reader: StoreReader, terms: Sequence[str]) -> dict[str, float]:
    """BM25-style idf of each term over the sentences (``StoreReader.idf_sentences``): rare
    names weigh more than common words."""
    return reader.idf_sentences(terms)


__all__ = ["Answerer", "Retrieval", "date"]
