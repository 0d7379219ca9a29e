"""Test doubles of :class:`retrieval.service.AnswerService`, the bot's one contract with retrieval.

``SpyService`` wraps a real service (counting, failing or stalling on cue); ``FakeService``
answers from canned values, with no index at all. Both are checked against the protocol by
mypy-style assignments at the bottom of this file and by ``test_doubles_are_answer_services``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from fake_bot_api.server import TOKEN

from retrieval.models import Answer, Filters, Passage, PassageSentence, Turn
from retrieval.service import AnswerService, ArticleSummary, IndexSummary, SourceSummary


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


def _conforms(spy: SpyService, fake: FakeService) -> list[AnswerService]:
    """Never called: mypy checks here that both doubles are AnswerServices."""
    return [spy, fake]
