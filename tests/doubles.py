"""Test doubles of :class:`retrieval.service.AnswerService`, the bot's one contract with retrieval,
and of :class:`index.store.StoreReader`, retrieval's one contract with the store.

``SpyService`` wraps a real service (counting, failing or stalling on cue); ``FakeService``
answers from canned values, with no index at all. Both are checked against the protocol by
mypy-style assignments at the bottom of this file and by ``test_doubles_are_answer_services``.
``ProtocolOnlyReader`` wraps a real store reader and offers nothing but ``StoreReader``'s
members, so a test shows retrieval needs no more than the protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fake_bot_api.server import TOKEN

from retrieval.models import Answer, Filters, Passage, PassageSentence, Turn
from retrieval.service import AnswerService, ArticleSummary, IndexSummary, SourceSummary

if TYPE_CHECKING:  # the store (FAISS) is not imported by the bot's tests
    import numpy as np

    from index.models import Article, ArticleListing, Chunk, Manifest, Sentence
    from index.store import IndexAbout, StoreReader, Table


class SpyService:
    """Wraps a real service, recording questions (and optionally failing or stalling)."""

    def __init__(
        self, inner: AnswerService, fail_on: str | None = None, slow_on: str | None = None, delay: float = 0.0
    ) -> None:
        self.inner = inner
        self.asked: list[str] = []
        self.histories: list[list[Turn] | None] = []
        self.fail_on = fail_on
        self.slow_on = slow_on
        self.delay = delay
        self.threads: set[str] = set()

    def ask(
        self, question: str, history: Sequence[Turn] | None = None, filters: Filters | None = None
    ) -> Answer:
        self.asked.append(question)
        self.histories.append(list(history) if history else None)
        self.threads.add(threading.current_thread().name)
        if self.fail_on and self.fail_on in question:
            raise RuntimeError(f"boom while answering {TOKEN}")
        if self.slow_on and self.slow_on in question:
            time.sleep(self.delay)
        return self.inner.ask(question, history, filters)

    def context(self, sentence_id: int, window: int = 2) -> Passage:
        if self.fail_on == "context":
            raise RuntimeError("no passage")
        return self.inner.context(sentence_id, window)

    def latest(self, n: int) -> list[ArticleSummary]:
        return self.inner.latest(n)

    def about(self) -> IndexSummary:
        return self.inner.about()

    @property
    def version(self) -> str:
        return self.inner.version

    def reload_if_newer(self) -> bool:
        return self.inner.reload_if_newer()


DATE = datetime(2024, 3, 4, tzinfo=UTC)


class FakeService:
    """Canned answers, no index: ``answer`` for every question, ``pending`` versions to reload to."""

    def __init__(
        self,
        answer: Answer | None = None,
        articles: Sequence[ArticleSummary] = (),
        version: str = "v000001-fake",
        pending: Sequence[str] = (),
    ) -> None:
        self.answer = answer
        self.articles = list(articles)
        self._version = version
        self.pending = list(pending)
        self.reloads = 0
        self.asked: list[str] = []

    def ask(
        self, question: str, history: Sequence[Turn] | None = None, filters: Filters | None = None
    ) -> Answer:
        self.asked.append(question)
        if self.answer is not None:
            return self.answer
        return Answer(question=question, answered=False, confidence=0.0)

    def context(self, sentence_id: int, window: int = 2) -> Passage:
        return Passage(article_id="a", title="Fake article", source="Fake", date=DATE, url=None, sentences=[
            PassageSentence(sentence_id=sentence_id, position=0, start=0, end=5, text="Fake.", cited=True)])

    def latest(self, n: int) -> list[ArticleSummary]:
        return self.articles[:n]

    def about(self) -> IndexSummary:
        sources: dict[str, int] = {}
        for a in self.articles:
            sources[a.source or "(unknown)"] = sources.get(a.source or "(unknown)", 0) + 1
        dates = [a.date for a in self.articles if a.date is not None]
        return IndexSummary(
            version=self._version, articles=len(self.articles), sentences=3 * len(self.articles),
            sources=[SourceSummary(name=k, articles=v) for k, v in sources.items()],
            earliest=min(dates, default=None), latest=max(dates, default=None), last_update=DATE,
        )

    @property
    def version(self) -> str:
        return self._version

    def reload_if_newer(self) -> bool:
        self.reloads += 1
        if not self.pending:
            return False
        self._version = self.pending.pop(0)
        return True


class ProtocolOnlyReader:
    """A :class:`~index.store.StoreReader` that forwards to ``inner`` only the protocol's members
    (the concrete reader's extras, e.g. ``lexical_sentences``, are not reachable through it)."""

    def __init__(self, inner: StoreReader) -> None:
        self._inner = inner
        self.calls: set[str] = set()

    def _use(self, name: str) -> StoreReader:
        self.calls.add(name)
        return self._inner

    @property
    def version(self) -> str:
        return self._use("version").version

    @property
    def manifest(self) -> Manifest:
        return self._use("manifest").manifest

    def search_chunks(self, vector: np.ndarray, k: int,
                      allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self._use("search_chunks").search_chunks(vector, k, allowed_ids)

    def search_sentences(self, vector: np.ndarray, k: int,
                         allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self._use("search_sentences").search_sentences(vector, k, allowed_ids)

    def bm25_chunks(self, query: str, k: int,
                    allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self._use("bm25_chunks").bm25_chunks(query, k, allowed_ids)

    def bm25_sentences(self, query: str, k: int,
                       allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self._use("bm25_sentences").bm25_sentences(query, k, allowed_ids)

    def idf_sentences(self, terms: Sequence[str]) -> dict[str, float]:
        return self._use("idf_sentences").idf_sentences(terms)

    def chunk_ids_matching(self, since: datetime | None, until: datetime | None,
                           sources: Sequence[str] | None) -> np.ndarray:
        return self._use("chunk_ids_matching").chunk_ids_matching(since, until, sources)

    def sentence_ids_matching(self, since: datetime | None, until: datetime | None,
                              sources: Sequence[str] | None) -> np.ndarray:
        return self._use("sentence_ids_matching").sentence_ids_matching(since, until, sources)

    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        return self._use("get_articles").get_articles(ids)

    def get_sentences(self, ids: Sequence[int]) -> list[Sentence]:
        return self._use("get_sentences").get_sentences(ids)

    def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        return self._use("get_chunks").get_chunks(ids)

    def sentences_of_article(self, article_id: str, first: int = 0,
                             last: int | None = None) -> list[Sentence]:
        return self._use("sentences_of_article").sentences_of_article(article_id, first, last)

    def sentences_of_articles(self, ranges: Sequence[tuple[str, int, int]]) -> list[Sentence]:
        return self._use("sentences_of_articles").sentences_of_articles(ranges)

    def sentences_of_chunk(self, chunk_id: int) -> list[Sentence]:
        return self._use("sentences_of_chunk").sentences_of_chunk(chunk_id)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._use("sentence_vectors").sentence_vectors(ids)

    def id_articles(self, table: Table) -> list[tuple[int, str]]:
        return self._use("id_articles").id_articles(table)

    def about(self) -> IndexAbout:
        return self._use("about").about()

    def latest_articles(self, n: int) -> list[Article]:
        return self._use("latest_articles").latest_articles(n)

    def list_articles(self, limit: int | None = None, source: str | None = None) -> list[ArticleListing]:
        return self._use("list_articles").list_articles(limit, source)

    def undated_articles(self, sources: Sequence[str] | None = None) -> int:
        return self._use("undated_articles").undated_articles(sources)

    def newer_version_available(self) -> bool:
        return self._use("newer_version_available").newer_version_available()

    def close(self) -> None:
        self._use("close").close()


def _conforms(spy: SpyService, fake: FakeService) -> list[AnswerService]:
    """Never called: mypy checks here that both doubles are AnswerServices."""
    return [spy, fake]


def _reads(only: ProtocolOnlyReader) -> StoreReader:
    """Never called: mypy checks here that the double is a StoreReader."""
    return only


class WordTokenizer:
    """A stand-in for the reader's word-piece tokenizer: one id per distinct word (1000 + its
    place in a growing vocabulary), enough to check pair layouts and phrase positions."""

    cls_token_id = 101
    sep_token_id = 102
    pad_token_id = 0

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def __call__(self, text: list[str], add_special_tokens: bool = False) -> dict[str, list[list[int]]]:
        ids = [[self.vocab.setdefault(w, 1000 + len(self.vocab)) for w in t.split()] for t in text]
        return {"input_ids": ids}
