"""What the reader reads: (question, sentence, context) pairs and their token ids (pure).

``encode_pairs`` builds ``[CLS] question [SEP] sentence [SEP] context [SEP]`` rows; the
context (headline, previous sentence) is never returned as answer text. Tested without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
    #: Per row, [start, end) of the sentence's word pieces: where an answer phrase may lie.
    sentence_spans: np.ndarray


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
    spans = np.zeros((n, 2), dtype=np.int64)
    for i in range(n):
        q = list(ids[i])[: limits.question]
        s = list(ids[n + i])[: limits.sentence]
        c = list(ids[2 * n + i])[: limits.context]
        row = [tok.cls_token_id, *q, tok.sep_token_id, *s, tok.sep_token_id]
        spans[i] = (len(q) + 2, len(q) + 2 + len(s))
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
    return EncodedPairs(input_ids, token_types, mask, spans)


def locate_phrase(row: Sequence[int], span: tuple[int, int], phrase: Sequence[int]) -> tuple[int, int] | None:
    """First [start, end] (inclusive) of ``phrase``'s word pieces inside ``row[span[0]:span[1]]``.

    Training's answer-phrase target: the gold answer tokenized alone matches its word pieces
    inside the sentence whenever it starts on a word boundary (WordPiece splits punctuation
    off), which SQuAD's answers do. None when it is absent or was cut off with the sentence.
    """
    a, b = span
    k = len(phrase)
    if not k:
        return None
    first = phrase[0]
    for i in range(a, b - k + 1):
        if row[i] == first and list(row[i : i + k]) == list(phrase):
            return i, i + k - 1
    return None


#: The longest answer phrase the reader marks, in word pieces (SQuAD's answers are short).
MAX_PHRASE_TOKENS = 16


@dataclass(frozen=True)
class Phrase:
    """The answer phrase the reader marks inside a candidate sentence.

    ``start``/``end``: character offsets into the sentence text (end exclusive), widened to
    whole words. ``margin``: the span head's score of this phrase over "no phrase" ([CLS]).
    """

    start: int
    end: int
    margin: float


@dataclass
class Reading:
    """What the reader returns for a batch of pairs: a logit and a phrase (if any) per pair."""

    logits: np.ndarray
    phrases: list[Phrase | None]


def best_token_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    span: tuple[int, int],
    max_tokens: int = MAX_PHRASE_TOKENS,
) -> tuple[int, int, float] | None:
    """The best (start, end, margin) with ``span[0] <= start <= end < span[1]`` and at most
    ``max_tokens`` word pieces; margin = its start+end logits minus [CLS]'s (position 0)."""
    a, b = span
    if b <= a:
        return None
    s = start_logits[a:b].astype(np.float64)
    e = end_logits[a:b].astype(np.float64)
    n = b - a
    table = s[:, None] + e[None, :]
    i, j = np.indices((n, n))
    table[(j < i) | (j - i >= max_tokens)] = -np.inf
    flat = int(np.argmax(table))
    si, ei = divmod(flat, n)
    margin = float(table[si, ei]) - float(start_logits[0]) - float(end_logits[0])
    return a + si, a + ei, margin


def phrase_in_sentence(
    sentence: str, offsets: Sequence[tuple[int, int]], first_token: int, start: int, end: int, margin: float
) -> Phrase:
    """Token positions ``start..end`` of a row (the sentence's word pieces begin at
    ``first_token``) as character offsets into ``sentence``, widened to whole words (a phrase
    that begins or ends inside a word would cut it in the rendered answer)."""
    lo = offsets[start - first_token][0]
    hi = offsets[end - first_token][1]
    while lo > 0 and sentence[lo - 1].isalnum():
        lo -= 1
    while hi < len(sentence) and sentence[hi].isalnum():
        hi += 1
    return Phrase(lo, hi, margin)


#: One forward pass over encoded pairs: (pair logits [B], start/end logits [B, T, 2]).
ForwardPass = Callable[[EncodedPairs], tuple[np.ndarray, np.ndarray]]


def read_in_batches(
    tok: Any, pairs: Sequence[ReaderPair], limits: InputLimits, batch_size: int,
    forward: ForwardPass, marks_phrases: bool,
) -> Reading:
    """Encode ``pairs`` in batches, run ``forward`` on each (torch or ONNX Runtime) and decode
    the answer phrases when the weights have a span head."""
    if not pairs:
        return Reading(np.zeros(0, dtype=np.float32), [])
    logits: list[np.ndarray] = []
    phrases: list[Phrase | None] = []
    for begin in range(0, len(pairs), batch_size):
        batch = pairs[begin : begin + batch_size]
        enc = encode_pairs(tok, batch, limits)
        pair_logits, token_logits = forward(enc)
        logits.append(pair_logits)
        phrases += (decode_phrases(tok, batch, enc.sentence_spans, token_logits) if marks_phrases
                    else [None] * len(batch))
    return Reading(np.concatenate(logits).astype(np.float32), phrases)


def decode_phrases(
    tok: Any, batch: Sequence[ReaderPair], sentence_spans: np.ndarray, token_logits: np.ndarray
) -> list[Phrase | None]:
    """Each pair's best answer phrase, as character offsets into its sentence."""
    offsets = tok([p.sentence for p in batch], add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"]
    out: list[Phrase | None] = []
    for i, pair in enumerate(batch):
        span = (int(sentence_spans[i][0]), int(sentence_spans[i][1]))
        best = best_token_span(token_logits[i, :, 0], token_logits[i, :, 1], span)
        out.append(None if best is None else phrase_in_sentence(pair.sentence, offsets[i], span[0], *best))
    return out
