"""One batch of articles → sentence and chunk rows with their vectors (the pipeline's embed step).

Articles are split and chunked, then every embedding input gets a key; a key whose vector is
already stored (an unchanged text, or one encoded earlier in this run) is never encoded again.

Sentence vectors are made one of two ways (``NEWSBOT_SENTENCE_VECTORS``):

* ``late`` (default): each chunk is encoded once and its sentences' vectors are pooled from
  that pass (``late_chunking.py``). A sentence in two overlapping chunks gets the mean of
  both. Its key hashes the sentence with the chunks it was read in (``late_key``), so an
  unchanged article keeps its stored vectors; a sentence whose vector is missing makes its
  chunks be encoded again even when their own vectors are stored.
* ``separate``: every sentence is encoded again on its own, keyed by its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from index.embedding import Embedder
from index.late_chunking import has_vector, late_key
from index.models import Article
from index.store import ChunkRow, SentenceRow, StagedChanges, text_hash

#: Batch size handed to the model's encode.
ENCODE_BATCH = 64


@dataclass
class PreparedArticle:
    """An article cut into sentences and chunks (pure data)."""

    article: Article
    sentences: list[tuple[int, int]]
    hashes: tuple[str, str]
    chunks: list[tuple[int, int]] = field(default_factory=list)
    sentence_tokens: list[int] = field(default_factory=list)
    title_tokens: int = 0


def prepare_chunks(prepared: Sequence[PreparedArticle], embedder: Embedder, overlap: int) -> None:
    """Count tokens of every sentence and title in ONE tokenizer call, then plan chunks."""
    from index.text import plan_chunks

    texts: list[str] = []
    for p in prepared:
        body = p.article.body
        texts.extend(body[s:e] for s, e in p.sentences)
        texts.append(p.article.title)
    counts = embedder.count_tokens(texts) if texts else []
    pos = 0
    for p in prepared:
        n = len(p.sentences)
        p.sentence_tokens = list(counts[pos : pos + n])
        p.title_tokens = int(counts[pos + n]) if p.article.title else 0
        pos += n + 1
        p.chunks = plan_chunks(p.sentence_tokens, embedder.max_tokens, overlap=overlap,
                               title_tokens=p.title_tokens)


def chunk_prefix(title: str) -> str:
    """What precedes a chunk's sentences in its embedded text: the headline gives context."""
    return f"{title}\n" if title else ""


def chunk_input(title: str, body: str, start: int, end: int) -> str:
    """What is embedded for a chunk: the headline, then the chunk's sentences."""
    return chunk_prefix(title) + body[start:end]


@dataclass
class _LateSentence:
    """Where a late sentence vector comes from: (chunk key, span in the chunk's text) pairs."""

    text: str
    reads: list[tuple[str, tuple[int, int]]]


@dataclass
class EmbeddedBatch:
    """The rows of a batch, ready to insert, and how many texts the model encoded."""

    sentence_rows: list[SentenceRow] = field(default_factory=list)
    chunk_rows: list[ChunkRow] = field(default_factory=list)
    #: Texts the model read (with late chunking, one pass per chunk serves its sentences too).
    embedded: int = 0
    #: Vectors stored for the first time (chunks and sentences).
    new_vectors: int = 0


class BatchEmbedder:
    """Embeds batches of one run: remembers what this run encoded, asks the store for the rest."""

    def __init__(self, staged: StagedChanges, embedder: Embedder, late: bool, may_reuse: bool) -> None:
        self.staged = staged
        self.embedder = embedder
        self.late = late
        self.may_reuse = may_reuse
        self.model = embedder.info.name
        self.encoded: set[str] = set()

    def embed(self, batch: Sequence[PreparedArticle]) -> EmbeddedBatch:
        out = EmbeddedBatch()
        chunk_texts: dict[str, str] = {}
        plain: dict[str, str] = {}  # separate mode: sentence key -> text
        late: dict[str, _LateSentence] = {}
        sid = self.staged.allocate_ids("sentences", sum(len(p.sentences) for p in batch))
        cid = self.staged.allocate_ids("chunks", sum(len(p.chunks) for p in batch))
        for p in batch:
            a = p.article
            prefix = len(chunk_prefix(a.title))
            keys: list[str] = []
            owners: list[list[int]] = [[] for _ in p.sentences]
            for pos, (first, last) in enumerate(p.chunks):
                start, end = p.sentences[first][0], p.sentences[last][1]
                text = chunk_input(a.title, a.body, start, end)
                h = text_hash(text)
                chunk_texts.setdefault(h, text)
                keys.append(h)
                for s in range(first, last + 1):
                    owners[s].append(pos)
                n_tok = p.title_tokens + sum(p.sentence_tokens[first : last + 1])
                out.chunk_rows.append((cid, a.id, pos, first, last, start, end, n_tok, h))
                cid += 1
            for pos, (s, e) in enumerate(p.sentences):
                text = a.body[s:e]
                if self.late:
                    reads = []
                    for c in owners[pos]:
                        base = p.chunks[c][0]
                        origin = p.sentences[base][0] - prefix
                        reads.append((keys[c], (s - origin, e - origin)))
                    h = late_key(text, [k for k, _ in reads], pos - p.chunks[owners[pos][0]][0])
                    late.setdefault(h, _LateSentence(text, reads))
                else:
                    h = text_hash(text)
                    plain.setdefault(h, text)
                out.sentence_rows.append((sid, a.id, pos, s, e, h))
                sid += 1

        missing = self._missing([*chunk_texts, *plain, *late])
        if self.late:
            out.embedded = self._encode_late(chunk_texts, late, missing)
            out.new_vectors = sum(1 for k in (*chunk_texts, *late) if k in missing)
        else:
            inputs = {**chunk_texts, **plain}
            todo = [h for h in inputs if h in missing]
            if todo:
                # One big call: the model sorts it by length, so batches carry little padding.
                self.staged.put_vectors(todo, self.embedder.encode([inputs[h] for h in todo],
                                                                   batch_size=ENCODE_BATCH), self.model)
            out.embedded = out.new_vectors = len(todo)
        return out

    def _missing(self, keys: Sequence[str]) -> set[str]:
        """Keys with no vector yet (neither encoded in this run nor stored); marks them done."""
        todo = [k for k in keys if k not in self.encoded]
        stored = self.staged.stored_vectors(todo, self.model) if self.may_reuse else {}
        self.encoded.update(todo)
        return {k for k in todo if k not in stored}

    def _encode_late(self, chunk_texts: dict[str, str], late: dict[str, _LateSentence],
                     missing: set[str]) -> int:
        """Encode the chunks that lack a vector or hold a sentence that does; pool sentences."""
        wanted = {k for k in chunk_texts if k in missing}
        need = [k for k in late if k in missing]
        for key in need:
            wanted.update(c for c, _ in late[key].reads)
        order = [k for k in chunk_texts if k in wanted]
        if not order:
            return 0
        spans: dict[str, list[tuple[int, int]]] = {k: [] for k in order}
        for key in need:
            for c, span in late[key].reads:
                spans[c].append(span)
        chunk_vecs, span_vecs = self.embedder.encode_late(
            [chunk_texts[k] for k in order], [spans[k] for k in order], batch_size=ENCODE_BATCH
        )
        fresh = [i for i, k in enumerate(order) if k in missing]
        if fresh:
            self.staged.put_vectors([order[i] for i in fresh], chunk_vecs[fresh], self.model)
        pooled = {k: dict(zip(spans[k], span_vecs[i], strict=True)) for i, k in enumerate(order)}
        vectors = np.zeros((len(need), chunk_vecs.shape[1]), dtype=np.float32)
        alone: list[int] = []
        for row, key in enumerate(need):
            reads = [pooled[c][span] for c, span in late[key].reads]
            found = [v for v in reads if has_vector(v[None, :])[0]]
            if found:
                mean = np.mean(found, axis=0)
                vectors[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            else:  # no chunk reached it within the token limit: read it on its own
                alone.append(row)
        if alone:
            texts = [late[need[r]].text for r in alone]
            vectors[alone] = self.embedder.encode(texts, batch_size=ENCODE_BATCH)
        if need:
            self.staged.put_vectors(need, vectors, self.model)
        return len(order) + len(alone)
