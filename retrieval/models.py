"""The answer contract: what ``Answerer.ask`` returns and what ``newsbot ask --json`` prints.

Other tools script these fields (the bot, the eval harness, people's shell pipelines), so
fields are only ever added, never renamed or dropped. JSON is ``model_dump(mode="json")``.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class AnswerSentence(BaseModel):
    """One sentence of an indexed article, quoted exactly, with its citation.

    ``text == article.body[start:end]``: the bot never returns words that are not the article's.
    """

    text: str
    article_id: str
    title: str = ""
    source: str | None = None
    date: datetime | None = None
    url: str | None = None
    score: float = Field(description="Ranking score of the sentence: log-odds, higher is better")
    sentence_id: int
    start: int = Field(description="Character offset of the sentence in the article body")
    end: int
    position: int = Field(description="0-based position of the sentence within the article")
    answer_span: tuple[int, int] | None = Field(
        default=None,
        description="Character offsets [start, end) within text of the answer phrase the reader "
        "marks (e.g. '£7.2m'), or null when it marks none; text itself is never altered",
    )

    def shown_parts(self) -> tuple[str, str, str]:
        """The sentence as renderers show it (whitespace collapsed), split around the marked
        answer phrase: (before, phrase, after); phrase is "" when none is marked."""
        return marked_parts(self.text, self.answer_span)


def marked_parts(text: str, span: tuple[int, int] | None) -> tuple[str, str, str]:
    """(before, phrase, after) with ``before + phrase + after == " ".join(text.split())``.

    ``phrase`` is the span's words ("" when there is no span or it does not fit the text).
    """
    flat = " ".join(text.split())
    if span is None:
        return flat, "", ""
    start, end = span
    if not 0 <= start < end <= len(text):
        return flat, "", ""
    before = " ".join(text[:start].split())
    phrase = " ".join(text[start:end].split())
    if not phrase:
        return flat, "", ""
    # A space separates the parts wherever the original had whitespace at the boundary.
    if before and (text[start - 1].isspace() or text[start].isspace()):
        before += " "
    after_raw = text[end:]
    after = " ".join(after_raw.split())
    if after and (after_raw[:1].isspace() or text[end - 1].isspace()):
        after = " " + after
    return before, phrase, after


class Suggestion(BaseModel):
    """An article close to the question, offered when we do not answer."""

    article_id: str
    title: str = ""
    source: str | None = None
    date: datetime | None = None
    url: str | None = None
    score: float


class Filters(BaseModel):
    """What a user can restrict answers to: a date range (inclusive days) and sources."""

    since: date | None = None
    until: date | None = None
    sources: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return self.since is None and self.until is None and not self.sources


class Answer(BaseModel):
    """The answer to one question: up to three cited sentences, or an honest "I don't know"."""

    question: str
    answered: bool
    confidence: float = Field(description="Calibrated probability that the first sentence answers")
    sentences: list[AnswerSentence] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)
    #: The question as searched: a follow-up rewritten with the previous turn's content words.
    resolved_question: str | None = None
    #: The next best sentences (the bot's "More" button).
    alternatives: list[AnswerSentence] = Field(default_factory=list)
    #: The filters actually applied (explicit ones merged with "this week"-style words).
    filters: Filters | None = None
    #: Human-readable notes, e.g. that a time filter matched nothing and was dropped.
    notes: list[str] = Field(default_factory=list)
    elapsed_ms: float = 0.0
    index_version: str | None = None
    #: Where the time went (encode_ms, faiss_ms, bm25_ms, fetch_ms, score_ms), for benchmarks.
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Turn(BaseModel):
    """One earlier exchange of a conversation, enough to resolve a follow-up question."""

    question: str
    resolved_question: str | None = None
    article_ids: list[str] = Field(default_factory=list)
    sentences: list[str] = Field(default_factory=list)

    @classmethod
    def from_answer(cls, answer: Answer) -> Turn:
        """The turn a chat keeps after showing ``answer``."""
        shown = answer.sentences or answer.alternatives[:1]
        ids = [s.article_id for s in shown] or [s.article_id for s in answer.suggestions[:2]]
        return cls(
            question=answer.question,
            resolved_question=answer.resolved_question,
            article_ids=list(dict.fromkeys(ids)),
            sentences=[s.text for s in shown],
        )


class PassageSentence(BaseModel):
    """A sentence of a passage, flagged when it is the one that was cited."""

    sentence_id: int
    position: int
    start: int
    end: int
    text: str
    cited: bool = False


class Passage(BaseModel):
    """The sentences around a cited one (the bot's "Source" button)."""

    article_id: str
    title: str = ""
    source: str | None = None
    date: datetime | None = None
    url: str | None = None
    sentences: list[PassageSentence] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)
