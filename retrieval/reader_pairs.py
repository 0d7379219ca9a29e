"""What the reader reads: (question, sentence, context) pairs and their token ids (pure).

``encode_pairs`` builds ``[CLS] question [SEP] sentence [SEP] context [SEP]`` rows; the
context (headline, previous sentence) is never returned as answer text. Tested without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class InputLimits:
    """Word pieces each part of a pair may use (longer parts are cut at the end)."""

    question: int = 32
    sentence: int = 64
    context: int = 32


@dataclass(frozen=True)
class ReaderPair:
    """What the reader reads for one candidate: the question, the sentence, its context."""

    question: str
    sentence: str
    title: str = ""
    previous: str = ""

    @property
    def context(self) -> str:
        """The headline, then the sentence before (the part truncated first)."""
        return " — ".join(p for p in (self.title.strip(), self.previous.strip()) if p)


@dataclass
class EncodedPairs:
    """Token ids of a batch of pairs, padded to the longest (numpy, so tests need no torch)."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray


class Tokenizer(Protocol):
    """The part of a Hugging Face tokenizer ``encode_pairs`` uses."""

    cls_token_id: int
    sep_token_id: int
    pad_token_id: int

    def __call__(
        self, text: list[str], add_special_tokens: bool = ...
    ) -> Mapping[str, Sequence[Sequence[int]]]:
        """``["input_ids"]``: the token ids of each text (a ``BatchEncoding`` is such a mapping)."""
        ...


def encode_pairs(tok: Tokenizer, pairs: Sequence[ReaderPair], limits: InputLimits) -> EncodedPairs:
    """``[CLS] q [SEP] sentence [SEP] context [SEP]`` per pair, each part cut to its limit.

    The question is segment 0; the sentence and its context are segment 1, told apart by the
    separator between them and their order.  Pairs are padded to the longest in the batch.
    """
    texts = [p.question for p in pairs] + [p.sentence for p in pairs] + [p.context for p in pairs]
    ids = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
    n = len(pairs)
    rows: list[list[int]] = []
    types: list[list[int]] = []
    for i in range(n):
        q = list(ids[i])[: limits.question]
        s = list(ids[n + i])[: limits.sentence]
        c = list(ids[2 * n + i])[: limits.context]
        row = [tok.cls_token_id, *q, tok.sep_token_id, *s, tok.sep_token_id]
        seg = [0] * (len(q) + 2) + [1] * (len(s) + 1)
        if c:
            row += [*c, tok.sep_token_id]
            seg += [1] * (len(c) + 1)
        rows.append(row)
        types.append(seg)
    width = max((len(r) for r in rows), default=0)
    input_ids = np.full((n, width), tok.pad_token_id, dtype=np.int64)
    token_types = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for i, (row, seg) in enumerate(zip(rows, types, strict=True)):
        input_ids[i, : len(row)] = row
        token_types[i, : len(seg)] = seg
        mask[i, : len(row)] = 1
    return EncodedPairs(input_ids, token_types, mask)
