"""Answer selection over the index: ``Answerer(index_dir).ask(question, history) -> Answer``.

Serving (the bot) goes through :class:`AnswerService` (``retrieval.service``), e.g.
``NewsService(Answerer(index_dir))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval.models import Answer, AnswerSentence, Filters, Passage, Suggestion, Turn
from retrieval.service import AnswerService, ArticleSummary, IndexSummary, NewsService, SourceSummary

if TYPE_CHECKING:
    from retrieval.answerer import Answerer

__all__ = [
    "Answer",
    "AnswerSentence",
    "AnswerService",
    "Answerer",
    "ArticleSummary",
    "Filters",
    "IndexSummary",
    "NewsService",
    "Passage",
    "SourceSummary",
    "Suggestion",
    "Turn",
]


def __getattr__(name: str) -> type[Answerer]:
    # Lazy: importing retrieval.models (the bot's types) must not pull in FAISS and the store.
    if name == "Answerer":
        from retrieval.answerer import Answerer

        return Answerer
    raise AttributeError(name)
