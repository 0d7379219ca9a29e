"""Candidate sentences for one question: what the four searches found (:class:`Retrieval`),
turned into the sentences the scorer compares (:func:`gather_candidates`): those of the top
passages and the top sentence hits, each with the sentence before it and its article's lead
for context, their stored vectors, and their articles."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from index.models import Article, Sentence
from retrieval import scoring
from retrieval.fusion import ranks
from retrieval.settings import RetrievalSettings

if TYPE_CHECKING:  # the store (FAISS, SQLite, Milvus) is imported only where the index is opened
    from index.store import StoreReader

#: Sentences at the start of an article that give every later sentence its topic (the lead).
LEAD_SENTENCES = 2

#: (candidates, their vectors, the vectors of the sentence before each, articles, sentences by id)
Gathered = tuple[list[scoring.Candidate], np.ndarray, np.ndarray, dict[str, Article], dict[int, Sentence]]


class Retrieval:
    """What the searches returned for one question (kept for benchmarks and debugging)."""

    def __init__(self) -> None:
        self.dense_chunks: list[tuple[int, float]] = []
        self.bm25_chunks: list[tuple[int, float]] = []
        self.dense_sentences: list[tuple[int, float]] = []
        self.bm25_sentences: list[tuple[int, float]] = []
        self.fused_chunks: list[int] = []
        self.fused_chunk_scores: dict[int, float] = {}
        self.qvec: np.ndarray = np.zeros(0, dtype=np.float32)
        self.timings: dict[str, float] = {}


def gather_candidates(reader: StoreReader, r: Retrieval, preferred: set[str], settings: RetrievalSettings,
                      dim: int) -> Gathered:
    """Candidate sentences (those of the top passages and the top sentence hits), with the
    sentence before each one for context, their stored vectors, and their articles."""
    s = settings
    top = r.fused_chunks[: s.top_k_passages]
    chunks = reader.get_chunks(top)
    chunk_rank = ranks(top)
    n_sent = max(10, s.search_k // 2)
    d_rank = ranks([i for i, _ in r.dense_sentences[:n_sent]])
    b_rank = ranks([i for i, _ in r.bm25_sentences[:n_sent]])
    hit_ids = list(dict.fromkeys(list(d_rank) + list(b_rank)))
    hits = reader.get_sentences(hit_ids) if hit_ids else []
    # positions wanted per article, the best passage rank of each position, and the best
    # dense cosine of a passage holding it (title + chunk: the headline's context)
    chunk_cos = dict(r.dense_chunks)
    cos_floor = min(chunk_cos.values(), default=0.0)
    wanted: dict[str, dict[int, int | None]] = {}
    passage_cos: dict[tuple[str, int], float] = {}
    for ch in chunks:
        per = wanted.setdefault(ch.article_id, {})
        rank = chunk_rank.get(ch.id)
        cos = chunk_cos.get(ch.id, cos_floor)
        for pos in range(ch.first_sentence, ch.last_sentence + 1):
            old = per.get(pos)
            per[pos] = rank if old is None else (min(old, rank) if rank is not None else old)
            key = (ch.article_id, pos)
            passage_cos[key] = max(passage_cos.get(key, cos_floor), cos)
    bm25_scores = dict(r.bm25_sentences)
    bm25_max = max(bm25_scores.values(), default=0.0) or 1.0
    for h in hits:
        wanted.setdefault(h.article_id, {}).setdefault(h.position, None)
    # Each wanted run with the sentence before it, and the article's lead (its first
    # sentences), which sets the topic of every later sentence ("Karabakh" is named there, not
    # again beside the death toll): all in one fetch (one query per collection).
    ranges = [(aid, max(0, lo - 1), hi) for aid, per in wanted.items() for lo, hi in _runs(sorted(per))]
    ranges += [(aid, 0, LEAD_SENTENCES - 1) for aid in wanted]
    fetched = {(s.article_id, s.position): s for s in reader.sentences_of_articles(ranges)}
    articles = reader.get_articles(list(wanted))
    cands: list[scoring.Candidate] = []
    prev_ids: list[int | None] = []
    sent_by_id: dict[int, Sentence] = {}
    for aid, per in wanted.items():
        art = articles.get(aid)
        if art is None:
            continue
        for pos, rank in per.items():
            found = fetched.get((aid, pos))
            if found is None:
                continue
            sent = found
            prev = fetched.get((aid, pos - 1))
            lead = " ".join(
                fetched[(aid, p)].text for p in range(min(pos - 1, LEAD_SENTENCES)) if (aid, p) in fetched
            )
            sent_by_id[sent.id] = sent
            cands.append(
                scoring.Candidate(
                    sentence_id=sent.id,
                    article_id=aid,
                    position=pos,
                    text=sent.text,
                    title=art.title,
                    prev_text=prev.text if prev else "",
                    lead_text=lead,
                    passage_rank=rank,
                    dense_rank=d_rank.get(sent.id),
                    bm25_rank=b_rank.get(sent.id),
                    date=art.date,
                    preferred=aid in preferred,
                    passage_cos=passage_cos.get((aid, pos), cos_floor),
                    bm25=bm25_scores.get(sent.id, 0.0) / bm25_max,
                )
            )
            prev_ids.append(prev.id if prev else None)
    all_ids = [c.sentence_id for c in cands] + [p for p in prev_ids if p is not None]
    if not cands:
        z = np.zeros((0, dim), dtype=np.float32)
        return cands, z, z, articles, sent_by_id
    mat = np.asarray(reader.sentence_vectors(list(dict.fromkeys(all_ids))), dtype=np.float32)
    row = {sid: i for i, sid in enumerate(dict.fromkeys(all_ids))}
    vecs = mat[[row[c.sentence_id] for c in cands]]
    prev_vecs = np.zeros_like(vecs)
    for i, p in enumerate(prev_ids):
        if p is not None:
            prev_vecs[i] = mat[row[p]]
    return cands, vecs, prev_vecs, articles, sent_by_id


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted positions → inclusive runs of consecutive ones."""
    out: list[tuple[int, int]] = []
    for p in positions:
        if out and p == out[-1][1] + 1:
            out[-1] = (out[-1][0], p)
        else:
            out.append((p, p))
    return out
