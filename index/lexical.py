"""BM25 keyword search: one tokenizer for index build and query time, and a small index wrapper.

Dense vectors miss exact figures and rare names ("286", "1.13bn", "Cavusoglu"); BM25 catches
them.  The tokenizer is the single place that decides what a term is, so a query and the
documents it should match are always cut the same way:

* lowercase, Unicode word characters;
* numbers are kept whole with their decimal part and unit suffix (``$1.13bn`` → ``1.13bn``,
  ``1,000`` → ``1000``), so a figure in a question matches the same figure in a sentence;
* English stopwords dropped, remaining words stemmed with PyStemmer's English stemmer.

Document ``i`` of an index is the ``i``-th id in ascending id order of its metadata table
(see ``index.store``); this module only knows positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

#: A number (with thousands separators, a decimal part and a unit suffix like ``bn``/``m``/``%``
#: glued on) or a run of word characters.
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*[^\W\d_]*|[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN) | {"s", "t"}  # possessive 's and n't leftovers
_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _normalize_term(raw: str) -> str:
    """One raw lowercase match → its index term ('' for a stopword). Cached: news reuses words."""
    if raw[0].isdigit():
        # "1,000" and "1000" are the same figure; "1.13" keeps its decimal point.
        return raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+\w*", raw) else raw
    if raw in _STOPWORDS:
        return ""
    return str(_STEMMER.stemWord(raw))


def tokenize(text: str) -> list[str]:
    """The index terms of one text, in order (used for documents and queries alike)."""
    out: list[str] = []
    for raw in _TOKEN_RE.findall(text.lower()):
        term = _normalize_term(raw)
        if term:
            out.append(term)
    return out


def tokenize_many(texts: Iterable[str]) -> list[list[str]]:
    """:func:`tokenize` over many texts."""
    return [tokenize(t) for t in texts]


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
        """Index already tokenized documents (from :func:`tokenize_many`)."""
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
