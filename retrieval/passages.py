"""What a reader sees besides the answer: the closest articles when there is none
(:func:`suggestions`), and the sentences around a cited one for the bot's "Source" button
(:func:`passage_around`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.errors import NewsbotError
from index.models import Article
from retrieval.candidates import Retrieval
from retrieval.models import Passage, PassageSentence, Suggestion
from retrieval.settings import RetrievalSettings

if TYPE_CHECKING:  # the store (FAISS, SQLite, Milvus) is imported only where the index is opened
    from index.store import StoreReader


def suggestions(reader: StoreReader, r: Retrieval, articles: dict[str, Article],
                settings: RetrievalSettings) -> list[Suggestion]:
    """The closest articles (by fused passage score) when we do not answer."""
    out: list[Suggestion] = []
    seen: set[str] = set()
    top = r.fused_chunks[: max(settings.top_k_passages, 10)]
    chunk_by_id = {c.id: c for c in reader.get_chunks(top)}
    need = [c.article_id for c in chunk_by_id.values() if c.article_id not in articles]
    if need:
        articles = {**articles, **reader.get_articles(need)}
    for cid in top:
        ch = chunk_by_id.get(cid)
        if ch is None or ch.article_id in seen or ch.article_id not in articles:
            continue
        a = articles[ch.article_id]
        seen.add(a.id)
        out.append(
            Suggestion(
                article_id=a.id,
                title=a.title,
                source=a.source,
                date=a.date,
                url=a.url,
                score=round(r.fused_chunk_scores.get(cid, 0.0) * 60, 4),
            )
        )
        if len(out) >= settings.max_suggestions:
            break
    return out


def passage_around(reader: StoreReader, sentence_id: int, window: int = 2) -> Passage:
    """The sentences around a cited one (``window`` before and after), for "Source"."""
    found = reader.get_sentences([sentence_id])
    if not found:
        raise NewsbotError(f"sentence {sentence_id} is not in the index (it may have been removed)")
    sent = found[0]
    art = reader.get_articles([sent.article_id]).get(sent.article_id)
    around = reader.sentences_of_article(
        sent.article_id, max(0, sent.position - window), sent.position + window
    )
    return Passage(
        article_id=sent.article_id,
        title=art.title if art else "",
        source=art.source if art else None,
        date=art.date if art else None,
        url=art.url if art else None,
        sentences=[
            PassageSentence(
                sentence_id=x.id,
                position=x.position,
                start=x.start,
                end=x.end,
                text=x.text,
                cited=x.id == sentence_id,
            )
            for x in around
        ],
    )
