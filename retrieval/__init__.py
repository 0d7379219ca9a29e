"""Answer selection over the index: ``Answerer(index_dir).ask(question, history) -> Answer``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrieval.models import Answer, AnswerSentence, Filters, Passage, Suggestion, Turn

if TYPE_CHECKING:
    from retrieval.answerer import Answerer

__all__ = ["Answer", "AnswerSentence", "Answerer", "Filters", "Passage", "Suggestion", "Turn"]


def __getattr__(name: str) -> Any:
    # Lazy: importing retrieval.models (the bot's types) must not pull in FAISS and the store.
    if name == "Answerer":
        from retrieval.answerer import Answerer

        return Answerer
    raise AttributeError(name)
