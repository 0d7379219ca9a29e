"""The BM25 glue: a version's two :class:`~index.lexical.LexicalIndex` es and their ids.

BM25 document ``i`` is the ``i``-th id in ascending order of its metadata table (chunks or
sentences); this module turns positions into ids and back.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from index.errors import IndexCorruptError
from index.lexical import LexicalIndex, tokenize


def lexical_docs(
    sentence_rows: Iterable[tuple[str, int, str]],
    chunk_rows: Iterable[tuple[str, int, int, str]],
) -> tuple[list[list[str]], list[list[str]]]:
    """BM25 documents (chunks, sentences), each in ascending id order.

    ``sentence_rows`` are (article id, position, text) and ``chunk_rows`` (article id, first
    sentence, last sentence, title), both in id order; ``chunk_rows`` is read only after
    ``sentence_rows`` is exhausted.  Sentences are tokenized once; a chunk's terms are its
    title's terms followed by those of its sentences — the same as tokenizing the chunk text,
    since what lies between sentences (whitespace, bullets, separator lines) has no terms — at
    half the cost.
    """
    sentence_docs: list[list[str]] = []
    by_position: dict[tuple[str, int], int] = {}
    for article_id, position, text in sentence_rows:
        by_position[(article_id, position)] = len(sentence_docs)
        sentence_docs.append(tokenize(text))
    chunk_docs: list[list[str]] = []
    titles: dict[str, list[str]] = {}
    for article_id, first, last, title in chunk_rows:
        terms = titles.get(article_id)
        if terms is None:
            terms = titles[article_id] = tokenize(title)
        doc = list(terms)
        for pos in range(first, last + 1):
            doc.extend(sentence_docs[by_position[(article_id, pos)]])
        chunk_docs.append(doc)
    return chunk_docs, sentence_docs


def build_lexical(docs: list[list[str]], directory: Path) -> None:
    """Index tokenized documents and save them into ``directory``."""
    LexicalIndex.build(docs).save(directory)


def load_lexical(directory: Path, mmap: bool = True) -> LexicalIndex:
    """Load one BM25 index; IndexCorruptError naming the directory when it cannot be read."""
    try:
        return LexicalIndex.load(directory, mmap=mmap)
    except (OSError, ValueError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise IndexCorruptError(f"{directory}: unreadable BM25 index ({reason})") from None


def lexical_search(lex: LexicalIndex, ids: np.ndarray, query: str, k: int,
                   allowed_ids: np.ndarray | None) -> list[tuple[int, float]]:
    """Top ``k`` (id, BM25 score > 0); ``ids`` are the table's ids in ascending order."""
    positions = None
    if allowed_ids is not None:
        allowed = np.asarray(allowed_ids, dtype=np.int64)
        pos = np.searchsorted(ids, allowed)
        ok = pos < len(ids)
        ok[ok] = ids[pos[ok]] == allowed[ok]
        positions = pos[ok]
        if positions.size == 0:
            return []
    # Ties in id order, as the Milvus backend returns them.
    return sorted(((int(ids[p]), s) for p, s in lex.search(query, k, positions)), key=lambda h: (-h[1], h[0]))
