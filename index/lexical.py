"""BM25 keyword search: a small index wrapper over bm25s, used at index build and query time.

Dense vectors miss exact figures and rare names ("286", "1.13bn", "Cavusoglu"); BM25 catches
them. What a term is (the tokenizer, stemmer and stopwords) is decided in one place,
:mod:`index.textproc`, so a query and the documents it should match are always cut the same
way; :func:`tokenize` is re-exported here for the index build.

Document ``i`` of an index is the ``i``-th id in ascending id order of its metadata table
(see ``index.store``); this module only knows positions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

from index.textproc import tokenize

__all__ = ["LexicalIndex", "tokenize"]


class LexicalIndex:
    """A BM25 index over documents identified by position (0..n-1).

    An empty corpus is allowed (an index whose articles were all removed): it is saved as an
    empty directory with a marker file and every search returns nothing.
    """

    _EMPTY_MARKER = "EMPTY"

    def __init__(self, model: bm25s.BM25 | None, num_docs: int) -> None:
        self._model = model
        self.num_docs = num_docs

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> LexicalIndex:
        """Index already tokenized documents (each one :func:`tokenize`'s terms)."""
        if not documents:
            return cls(None, 0)
        model = bm25s.BM25()
        model.index([list(d) for d in documents], show_progress=False)
        return cls(model, len(documents))

    def save(self, directory: Path) -> None:
        """Write the index files into ``directory`` (created)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self._model is None:
            (directory / self._EMPTY_MARKER).write_text("0\n")
            return
        self._model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> LexicalIndex:
        """Load a saved index; raises OSError/ValueError when files are missing or unreadable."""
        if (directory / cls._EMPTY_MARKER).exists():
            return cls(None, 0)
        if not (directory / "params.index.json").is_file():
            raise FileNotFoundError(f"{directory}: no BM25 index files")
        model = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        return cls(model, int(model.scores["num_docs"]))

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """Inverse document frequency of each (already tokenized) term, BM25-style:
        ``log(1 + (N - df + 0.5) / (df + 0.5))``, so rare names weigh more than common words; a
        term in no document has df 0. An empty index has no statistics: every term gets 1.0.
        """
        if self._model is None:
            return {t: 1.0 for t in terms}
        vocab: dict[str, int] = self._model.vocab_dict
        indptr = self._model.scores["indptr"]
        n = float(self._model.scores["num_docs"])
        out: dict[str, float] = {}
        for t in terms:
            tid = vocab.get(t)
            df = float(indptr[tid + 1] - indptr[tid]) if tid is not None else 0.0
            out[t] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return out

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every document for ``query``; None when no query term is in the index."""
        if self._model is None:
            return None
        term_ids = self._model.get_tokens_ids(tokenize(query))
        if not term_ids:
            return None
        return np.asarray(self._model.get_scores_from_ids(term_ids), dtype=np.float32)

    def search(
        self, query: str, k: int, positions: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (position, score) with score > 0, best first; optionally only ``positions``."""
        if k <= 0:
            return []
        scores = self.scores(query)
        if scores is None:
            return []
        if positions is not None:
            positions = np.asarray(positions, dtype=np.int64)
            sub = scores[positions]
            return _top_k(sub, k, positions)
        return _top_k(scores, k, None)


def _top_k(scores: np.ndarray, k: int, labels: np.ndarray | None) -> list[tuple[int, float]]:
    """Best ``k`` positive scores as (label, score); label is the position unless given."""
    n = scores.shape[0]
    if n == 0:
        return []
    cand = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    cand = cand[scores[cand] > 0]
    order = cand[np.argsort(-scores[cand], kind="stable")]
    keys = labels[order] if labels is not None else order
    return [(int(key), float(scores[i])) for key, i in zip(keys, order, strict=True)]
