"""Pure text functions on the indexing hot path: sentence offsets and chunk plans.

Answers are sentences quoted from articles, so a sentence must be an exact slice of the
body (``body[start:end]``) and must never run across a paragraph break: a subhead such as
"Fight till the end" glued onto the next sentence would be quoted as nonsense.

Sentence boundaries inside a paragraph come from ``sentencex`` (Wikimedia, maintained, a
compiled Rust core): all 2,225 BBC bodies split in about 0.2-0.5 s on two cores, where
syntok takes ~3 s and pysbd ~15 s. It already knows abbreviations ("Mr.", "U.S.", "Jan."),
initials, decimals and closing quotes. A small post-pass fixes what it gets wrong on news
text: list markers ("1.", "(a)", "Q.") split off as sentences of their own; a word-less
leftover such as a stray closing quote; an opening quote left at the end of the previous
sentence; and unpaired quote marks (common in scrapes, where a closing quote lands at the
start of the next paragraph), after which sentencex reads the rest of the paragraph as one
quoted "sentence".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import accumulate

import sentencex

#: [CLS] and [SEP], added by the model around every embedded text.
SPECIAL_TOKENS = 2
#: Allowance per sentence for the text joining it to what precedes it (the newline after the
#: title, the space between sentences): exact for WordPiece, a margin for other tokenizers.
SEPARATOR_TOKENS = 1

_LINE = re.compile(r"[^\r\n\u2028\u2029\x0b\x0c\x85]+")
#: A bullet at the start of a line ("- item", "• item"): not part of the quotable sentence.
_BULLET = re.compile(r"[-*•‣◦▪–—]\s+")
#: A list or Q&A marker that sentencex returns as a sentence of its own: "1.", "(a)", "ii)", "Q."
_MARKER = re.compile(r"\(?(?:\d{1,3}|[A-Za-z]|[ivxlcdmIVXLCDM]{1,5})[.)]")
_WORDISH = re.compile(r"\w")
_QUOTES = "\"“”„‟«»"
_HIDE_QUOTES = str.maketrans(dict.fromkeys(_QUOTES, " "))
_CLOSERS = "\"”»’'"
_OPENERS = "\"“„«"
#: Whitespace beyond ASCII (no-break, thin, ideographic spaces...) as a plain space, for
#: sentencex only: 1.0.32 panics on a capital, such a space and a full stop ("Plan B\u00a0.",
#: slicing UTF-8 inside the space). Same length, so its offsets are still offsets into the line.
_WIDE_SPACES = str.maketrans(dict.fromkeys((chr(c) for c in range(0x80, 0x3001) if chr(c).isspace()), " "))


def _line_spans(body: str) -> list[tuple[int, int]]:
    """Each non-blank line as (start, end), whitespace stripped."""
    spans: list[tuple[int, int]] = []
    for m in _LINE.finditer(body):
        start, end = m.span()
        text = m.group()
        lead = len(text) - len(text.lstrip())
        trail = len(text) - len(text.rstrip())
        if lead + trail < len(text):
            spans.append((start + lead, end - trail))
    return spans


def _split_line(body: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of one line (a paragraph never spans a newline), offsets into ``body``."""
    bullet = _BULLET.match(body, start, end)
    if bullet:
        start = bullet.end()
    raw: list[tuple[int, int]] = []
    for s, e in _segment(body[start:end]):
        piece = body[start + s : start + e]
        if _unbalanced(piece):
            raw.extend((start + s + a, start + s + b) for a, b in _segment_ignoring_quotes(piece))
        else:
            raw.append((start + s, start + e))
    return _repair(body, raw)


def _segment(text: str) -> list[tuple[int, int]]:
    """sentencex's sentences of ``text`` as whitespace-stripped (start, end) offsets.

    sentencex sometimes ends a sentence with the opening quote of the next one
    ('Fans left. “' + 'Sad.”'); such a mark is moved to the sentence it opens.
    """
    spans: list[tuple[int, int]] = []
    for s, e in _boundaries(text):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        while e - 1 > s and text[e - 1] in _OPENERS and text[e - 2].isspace():
            e -= 1
            while e > s and text[e - 1].isspace():
                e -= 1
        floor = spans[-1][1] if spans else 0
        while s > floor and text[s - 1] in _OPENERS:
            s -= 1
        if s < e:
            spans.append((s, e))
    return spans


def _boundaries(text: str) -> list[tuple[int, int]]:
    """sentencex's (start, end) character offsets; the whole text as one sentence if it panics.

    A Rust panic surfaces as ``pyo3_runtime.PanicException``, a BaseException that no
    ``except Exception`` catches: one odd line would otherwise end a whole build.
    """
    try:
        found = sentencex.get_sentence_boundaries("en", text.translate(_WIDE_SPACES))
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        return [(0, len(text))]
    return [(int(b["start_index"]), int(b["end_index"])) for b in found]


def _unbalanced(text: str) -> bool:
    """Quotes that do not pair up (a closer first, or an opener never closed).

    sentencex treats everything after an opening quote as quoted until the closer, so an
    unpaired mark makes it read on to the end of the line. A straight quote opens when it
    follows a space or the line start and precedes a non-space, and closes otherwise.
    """
    if not any(q in text for q in _QUOTES):
        return False
    depth = 0
    for i, ch in enumerate(text):
        if ch not in _QUOTES:
            continue
        if ch == '"':
            before = text[i - 1] if i else " "
            after = text[i + 1] if i + 1 < len(text) else " "
            opens = (before.isspace() or before in "([{—–-") and not after.isspace()
        else:
            opens = ch in _OPENERS
        if opens:
            depth += 1
        elif depth == 0:
            return True
        else:
            depth -= 1
    return depth != 0


def _segment_ignoring_quotes(text: str) -> list[tuple[int, int]]:
    """Split with quote marks hidden, then give each sentence back its adjacent quote marks.

    A quote that opens in one paragraph and closes in another (common in scraped text, where
    the closing mark lands at the start of the next paragraph) makes sentencex treat the
    rest of the paragraph as one quoted sentence; hiding the marks restores the boundaries.
    """
    masked = text.translate(_HIDE_QUOTES)
    segments = _segment(masked)
    spans: list[tuple[int, int]] = []
    for i, (s, e) in enumerate(segments):
        # ’ and ' are not hidden: one that starts the next sentence stays with it
        limit = segments[i + 1][0] if i + 1 < len(segments) else len(text)
        while e < limit and text[e] in _CLOSERS:
            e += 1
        floor = spans[-1][1] if spans else 0
        while s > floor and text[s - 1] in _OPENERS:
            s -= 1
        spans.append((s, e))
    return spans


def _repair(body: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge list markers into the next sentence and word-less leftovers into the previous."""
    out: list[tuple[int, int]] = []
    carry: int | None = None  # start of a pending list marker
    for s, e in spans:
        text = body[s:e]
        if carry is not None:
            s, carry = carry, None
        if _MARKER.fullmatch(text):
            carry = s
            continue
        if not _WORDISH.search(text):
            if out:
                out[-1] = (out[-1][0], e)
            else:
                carry = s
            continue
        out.append((s, e))
    if carry is not None:  # a marker at the very end of the line
        if out:
            out[-1] = (out[-1][0], spans[-1][1])
        else:
            out.append((carry, spans[-1][1]))
    return [(s, e) for s, e in out if _WORDISH.search(body, s, e)]


def split_sentences(body: str) -> list[tuple[int, int]]:
    """Sentences of ``body`` as (start, end) character offsets, in order.

    ``body[start:end]`` is the sentence with surrounding whitespace stripped. Every line
    break ends a sentence (paragraphs, subheads and bullet items stand alone); a leading
    bullet ("- ", "• ") is left out of the item's sentence; lines with no letters or
    digits (separators such as "* * *") are not sentences.
    """
    out: list[tuple[int, int]] = []
    for start, end in _line_spans(body):
        out.extend(_split_line(body, start, end))
    return out


def chunk_token_budget(max_tokens: int, title_tokens: int = 0) -> int:
    """Tokens left for sentences (each costing its count plus SEPARATOR_TOKENS) in one chunk."""
    return max_tokens - SPECIAL_TOKENS - title_tokens


def over_long_sentences(
    sentence_token_counts: Sequence[int], max_tokens: int, title_tokens: int = 0
) -> list[int]:
    """Positions of sentences that do not fit a chunk on their own (the model truncates them).

    ``plan_chunks`` gives each one a chunk of its own; callers count or report them.
    """
    budget = chunk_token_budget(max_tokens, title_tokens)
    return [i for i, n in enumerate(sentence_token_counts) if n + SEPARATOR_TOKENS > budget]


def plan_chunks(
    sentence_token_counts: Sequence[int],
    max_tokens: int,
    overlap: int = 1,
    title_tokens: int = 0,
) -> list[tuple[int, int]]:
    """Group consecutive whole sentences into chunks, as (first, last) inclusive positions.

    Each chunk's title + sentences + special tokens + separators fits ``max_tokens``, so the
    model never silently drops the end of a chunk. Consecutive chunks share up to ``overlap``
    sentences (fewer when the shared sentences and the next new one would not fit together),
    so an answer straddling a chunk border is still seen whole by one of them. A sentence too
    long on its own becomes a chunk by itself (see :func:`over_long_sentences`). Every
    sentence is in some chunk and each chunk holds a sentence its neighbours do not, so no
    chunk is a strict subset of another.
    """
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    if overlap < 0:
        raise ValueError("overlap must be >= 0")
    n = len(sentence_token_counts)
    if n == 0:
        return []
    budget = chunk_token_budget(max_tokens, title_tokens)
    # prefix[i] = cost of sentences [0, i); cost of [a, b] = prefix[b + 1] - prefix[a]
    prefix = [0, *accumulate(max(0, c) + SEPARATOR_TOKENS for c in sentence_token_counts)]

    chunks: list[tuple[int, int]] = []
    start = 0
    while True:
        end = start  # the first sentence is taken even when it alone is over-long
        while end + 1 < n and prefix[end + 2] - prefix[start] <= budget:
            end += 1
        chunks.append((start, end))
        if end == n - 1:
            return chunks
        nxt = max(end - overlap + 1, start + 1)
        while nxt <= end and prefix[end + 2] - prefix[nxt] > budget:
            nxt += 1
        start = nxt
