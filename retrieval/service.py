"""The bot's one door into retrieval: :class:`AnswerService`, and :class:`NewsService` behind it.

The bot (and anything else that serves answers) depends on this protocol only: asking, the
passage around a quoted sentence, the latest articles, what the index holds, its version, and
swapping to a newer published version. It never reaches the index (``index.store``) itself,
so the store can change (a package, a second backend) without the bot noticing.

Importing this module is cheap: the models are plain pydantic, and the answerer and the store
(FAISS, SQLite, the models) are only imported by whoever builds a :class:`NewsService`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from retrieval.models import Answer, Filters, Passage, Turn

if TYPE_CHECKING:
    from index.models import Article
    from index.store import IndexAbout
    from retrieval.answerer import Answerer


class ArticleSummary(BaseModel):
    """One indexed article as listed to a user (/latest): no body."""

    model_config = ConfigDict(frozen=True)

    article_id: str
    title: str = ""
    url: str | None = None
    source: str | None = None
    date: datetime | None = None


class SourceSummary(BaseModel):
    """A source and how many articles of it the index holds."""

    model_config = ConfigDict(frozen=True)

    name: str
    articles: int


class IndexSummary(BaseModel):
    """What the index holds, as shown to a user (/about)."""

    model_config = ConfigDict(frozen=True)

    version: str
    articles: int
    sentences: int
    #: Most articles first.
    sources: list[SourceSummary]
    earliest: datetime | None = None
    latest: datetime | None = None
    #: When the version was published; None when unknown.
    last_update: datetime | None = None


class AnswerService(Protocol):
    """Everything the bot needs from retrieval; every method may be called from any thread.

    ``ask``, ``context``, ``latest``, ``about`` and ``reload_if_newer`` do CPU or disk work
    (run them off the event loop); ``version`` is cheap.
    """

    def ask(
        self, question: str, history: Sequence[Turn] | None = None, filters: Filters | None = None
    ) -> Answer:
        """The answer to ``question``; a follow-up is resolved against ``history`` (oldest first)."""
        ...

    def context(self, sentence_id: int, window: int = 2) -> Passage:
        """The ``window`` sentences before and after a quoted one (the "Source" button)."""
        ...

    def latest(self, n: int) -> list[ArticleSummary]:
        """The ``n`` most recently indexed articles, newest first."""
        ...

    def about(self) -> IndexSummary:
        """What the index being answered from holds."""
        ...

    @property
    def version(self) -> str:
        """The name of the index version being answered from."""
        ...

    def reload_if_newer(self) -> bool:
        """Swap to a newer published index version, if any; True when it swapped.

        Questions in flight finish on the version they started with.
        """
        ...


class NewsService:
    """:class:`AnswerService` over an :class:`~retrieval.answerer.Answerer` and its open index."""

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer

    def ask(
        self, question: str, history: Sequence[Turn] | None = None, filters: Filters | None = None
    ) -> Answer:
        return self.answerer.ask(question, history, filters)

    def context(self, sentence_id: int, window: int = 2) -> Passage:
        return self.answerer.context(sentence_id, window)

    def latest(self, n: int) -> list[ArticleSummary]:
        return [article_summary(a) for a in self.answerer.reader.latest_articles(n)]

    def about(self) -> IndexSummary:
        return index_summary(self.answerer.reader.about())

    @property
    def version(self) -> str:
        return self.answerer.reader.version

    def reload_if_newer(self) -> bool:
        return self.answerer.reload_if_newer()


def article_summary(article: Article) -> ArticleSummary:
    return ArticleSummary(article_id=article.id, title=article.title, url=article.url,
                          source=article.source, date=article.date)


def index_summary(about: IndexAbout) -> IndexSummary:
    return IndexSummary(
        version=about.version,
        articles=about.articles,
        sentences=about.sentences,
        sources=[SourceSummary(name=s.name, articles=s.articles) for s in about.sources],
        earliest=about.earliest,
        latest=about.latest,
        last_update=about.last_update,
    )


__all__ = ["AnswerService", "ArticleSummary", "IndexSummary", "NewsService", "SourceSummary"]
