"""Answers as Telegram HTML messages (pure functions: no I/O, no Telegram objects).

Telegram's HTML parse mode accepts a few tags and the entities ``&lt; &gt; &amp; &quot;``
(plus numeric ones). Article text is scraped from the web and routinely contains ``<``, ``&``
and quotes, so every piece of it goes through :func:`esc`; only this module writes tags.

A message may hold at most 4,096 characters after entity parsing, counted in UTF-16 code
units. We measure the HTML source in UTF-16 units, which is never shorter than what Telegram
counts, and split only between whole units (a sentence line, a source line), so a split never
falls inside a tag or a sentence. Measuring the source also keeps link targets (which Telegram
does not count as text but limits with the entities) inside the same budget.

Article metadata is scraped too and can be any length: a "title" that is a whole page, a URL
of thousands of characters. Every unit is built to fit a message whatever its inputs: titles
and source names are cut (as plain text, before escaping, ending with "…"), links longer than
:data:`MAX_HREF` are dropped (a cut URL would lead somewhere else), and a citation line that is
still too long loses its link, then more of its title. Nothing is ever cut after escaping or
tagging, so a cut never falls inside a tag or an entity.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.stats import StatsSnapshot
from retrieval.models import Answer, AnswerSentence, Passage, PassageSentence, Suggestion
from retrieval.service import ArticleSummary, IndexSummary

#: Telegram's limit on one message's text.
MAX_MESSAGE = 4096
#: Longest article title shown, in UTF-16 units of text ("…" included); longer ones are cut.
MAX_TITLE = 200
#: Longest source name shown (same unit); longer ones are cut.
MAX_SOURCE = 100
#: Longest link target kept, as written in the HTML (escaped, UTF-16 units). Longer links are
#: dropped, the title then shows unlinked: browsers and Telegram clients handle URLs this long,
#: and a message's entities (link targets included) have a size limit of their own.
MAX_HREF = 2048
ELLIPSIS = "…"


def esc(text: str | None) -> str:
    """Escape text for Telegram HTML (quotes too: the same helper serves attributes)."""
    return html.escape(text or "", quote=True)


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def safe_url(url: str | None) -> str | None:
    """Only http(s) links become ``href``s; anything else (javascript:, data:) is dropped."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def href_for(url: str | None) -> str | None:
    """The escaped ``href`` for ``url``: None unless http(s) and at most :data:`MAX_HREF` long."""
    href = safe_url(url)
    if href is None:
        return None
    escaped = esc(href)
    return escaped if tg_len(escaped) <= MAX_HREF else None


def clip(text: str | None, limit: int) -> str:
    """Plain text (whitespace collapsed) cut to at most ``limit`` UTF-16 units, ending in "…".

    Cuts plain text, before any escaping or tagging, and between code points (never inside a
    surrogate pair); at a space when there is one in the last quarter.
    """
    text = " ".join((text or "").split())
    if tg_len(text) <= limit:
        return text
    if limit < 1:
        return ""
    budget = limit - tg_len(ELLIPSIS)
    kept: list[str] = []
    used = 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
        kept.append(ch)
    cut = "".join(kept)
    space = cut.rfind(" ")
    if space >= len(cut) * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def fit(text: str | None, budget: int, limit: int) -> str:
    """``text`` clipped to at most ``limit`` units and escaped, the HTML at most ``budget`` units."""
    best = esc(clip(text, min(limit, max(budget, 0))))
    if tg_len(best) <= budget:
        return best
    # Escaping lengthened it (``&`` is 5 units of HTML): the longest clip that still fits.
    best, lo, hi = "", 0, min(limit, budget)
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = esc(clip(text, mid))
        if tg_len(candidate) <= budget:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def format_date(value: datetime | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def cite_line(title: str, url: str | None, source: str | None, date: datetime | None,
              prefix: str = "", max_len: int = MAX_MESSAGE) -> str:
    """``prefix`` + ``Title — Source, 3 Mar 2005`` with the title linked, at most ``max_len`` units.

    Title and source are cut to :data:`MAX_TITLE` and :data:`MAX_SOURCE`; an over-long link is
    left out. If the line still does not fit (a title of quotes escapes to six times its length),
    the link goes, then the title is cut to what is left.
    """
    label = esc(clip(title, MAX_TITLE) or "(untitled)")
    extra = ", ".join(p for p in (esc(clip(source, MAX_SOURCE)), format_date(date)) if p)
    tail = f" — {extra}" if extra else ""
    href = href_for(url)
    line = prefix + (f'<a href="{href}">{label}</a>' if href else label) + tail
    if tg_len(line) <= max_len:
        return line
    line = prefix + label + tail
    if tg_len(line) <= max_len:
        return line
    if tg_len(prefix + tail) >= max_len:
        tail = ""
    label = fit(title if title.strip() else "(untitled)", max_len - tg_len(prefix + tail), MAX_TITLE)
    return prefix + label + tail


def pack(units: Sequence[str], max_len: int = MAX_MESSAGE, sep: str = "\n") -> list[str]:
    """Greedily pack whole units into messages of at most ``max_len`` UTF-16 units.

    Greedy packing is prefix-stable: appending units never changes the earlier messages,
    which lets "More" edit only the last message of an answer.
    """
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        ulen = tg_len(unit)
        if ulen > max_len:
            raise ValueError("unit longer than a message; split it first")
        added = ulen + (tg_len(sep) if current else 0)
        if current and size + added > max_len:
            messages.append(sep.join(current).strip("\n"))
            current, size = [], 0
            added = ulen
        current.append(unit)
        size += added
    if current:
        messages.append(sep.join(current).strip("\n"))
    return [m for m in messages if m]


def split_text(text: str, budget: int) -> list[str]:
    """Cut plain text at spaces so each piece escapes to at most ``budget`` UTF-16 units.

    Only needed for a "sentence" longer than a whole message (a scrape with no full stops).
    """
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if tg_len(esc(candidate)) <= budget:
            current = candidate
            continue
        if current:
            pieces.append(current)
        # A single word longer than the budget: hard-cut it by characters.
        while tg_len(esc(word)) > budget:
            cut = budget
            while cut > 1 and tg_len(esc(word[:cut])) > budget:
                cut = cut * 3 // 4
            pieces.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        pieces.append(current)
    return pieces


@dataclass(frozen=True)
class Citation:
    """One cited article and the marker number its sentences carry."""

    number: int
    title: str
    url: str | None
    source: str | None
    date: datetime | None


def citations(sentences: Iterable[AnswerSentence]) -> dict[str, Citation]:
    """Number cited articles 1, 2, ... in order of first appearance."""
    cited: dict[str, Citation] = {}
    for s in sentences:
        if s.article_id not in cited:
            cited[s.article_id] = Citation(len(cited) + 1, s.title, s.url, s.source, s.date)
    return cited


def sentence_units(sentences: Sequence[AnswerSentence], max_len: int = MAX_MESSAGE) -> list[str]:
    """Each sentence (escaped, the answer phrase the reader marked in bold) followed by its
    article's marker; over-long ones cut at spaces."""
    cited = citations(sentences)
    units: list[str] = []
    for s in sentences:
        marker = f" [{cited[s.article_id].number}]"
        before, phrase, after = s.shown_parts()
        text = before + phrase + after
        budget = max_len - tg_len(marker)
        marked = f"{esc(before)}<b>{esc(phrase)}</b>{esc(after)}" if phrase else esc(text)
        if tg_len(marked) <= budget:
            units.append(marked + marker)
        else:
            # Cut into several messages: plain, a bold tag must not straddle a cut.
            parts = split_text(text, budget)
            units.extend(esc(p) for p in parts[:-1])
            units.append(esc(parts[-1]) + marker)
    return units


def source_units(sentences: Sequence[AnswerSentence], max_len: int = MAX_MESSAGE) -> list[str]:
    cited = citations(sentences)
    lines = [cite_line(c.title, c.url, c.source, c.date, prefix=f"[{c.number}] ", max_len=max_len)
             for c in cited.values()]
    return ["", "<b>Sources</b>", *lines] if lines else []


def render_sentences(sentences: Sequence[AnswerSentence], max_len: int = MAX_MESSAGE) -> list[str]:
    """Answer sentences with markers, then the sources block, packed into messages."""
    return pack([*sentence_units(sentences, max_len), *source_units(sentences, max_len)], max_len)


def render_answer(answer: Answer, max_len: int = MAX_MESSAGE) -> list[str]:
    """The messages for an answer (or for "I don't know")."""
    if not answer.answered or not answer.sentences:
        return render_unknown(answer, max_len=max_len)
    return render_sentences(answer.sentences, max_len)


def render_more(
    answer: Answer, shown_alternatives: int, max_len: int = MAX_MESSAGE
) -> tuple[list[str], int]:
    """The answer extended with up to ``shown_alternatives`` of the next best sentences.

    Returns the messages and how many alternatives they hold: alternatives are dropped from
    the end until every message but the last is unchanged, since the bot edits only the last
    one (an alternative packed into an earlier message would be counted but never seen).
    """
    base = render_answer(answer, max_len)
    n = min(shown_alternatives, len(answer.alternatives))
    while n > 0:
        msgs = render_sentences([*answer.sentences, *answer.alternatives[:n]], max_len)
        if len(msgs) == len(base) and msgs[:-1] == base[:-1]:
            return msgs, n
        n -= 1
    return base, 0


def suggestion_line(s: Suggestion, max_len: int = MAX_MESSAGE) -> str:
    return cite_line(s.title, s.url, s.source, s.date, prefix="• ", max_len=max_len)


def render_unknown(answer: Answer, max_len: int = MAX_MESSAGE) -> list[str]:
    """A plain "I don't know", then the closest articles so the reader can look further.

    Every unit is built to fit (notes and titles cut as plain text before escaping), so none
    is ever cut inside a tag or an entity.
    """
    units = ["I don't know: I found no sentence in the news I have that answers this."]
    units.extend(f"<i>{fit(note, max_len - tg_len('<i></i>'), max_len)}</i>" for note in answer.notes)
    if answer.suggestions:
        units += ["", "<b>Closest articles</b>"]
        units.extend(suggestion_line(s, max_len) for s in answer.suggestions)
    return pack(units, max_len)


def source_button_labels(sentences: Sequence[AnswerSentence]) -> list[str]:
    """One label per sentence: ``Source [2]``; a second sentence of article 2 is ``[2b]``."""
    cited = citations(sentences)
    seen: dict[str, int] = {}
    labels = []
    for s in sentences:
        k = seen.get(s.article_id, 0)
        seen[s.article_id] = k + 1
        suffix = "" if k == 0 else chr(ord("a") + min(k, 25))
        labels.append(f"Source [{cited[s.article_id].number}{suffix}]")
    return labels


def render_passage(passage: Passage, max_len: int = MAX_MESSAGE) -> str:
    """The sentences around a cited one, the cited sentence in bold, with the citation.

    Neighbours are dropped from the far ends first if the passage does not fit.
    """
    head = "<b>" + esc(clip(passage.title, MAX_TITLE) or "(untitled)") + "</b>"
    extra = ", ".join(p for p in (esc(clip(passage.source, MAX_SOURCE)), format_date(passage.date)) if p)
    if extra:
        head += f"\n{extra}"
    href = href_for(passage.url)
    foot = f'\n\n<a href="{href}">Read the full article</a>' if href else ""
    if tg_len(head + foot) > max_len // 2:
        # Escaped metadata at its longest: the passage keeps the room, the link goes.
        foot = ""

    sents = list(passage.sentences)

    def body(items: Sequence[PassageSentence]) -> str:
        out = []
        for s in items:
            text = esc(" ".join(s.text.split()))
            out.append(f"<b>{text}</b>" if s.cited else text)
        return " ".join(out)

    while True:
        text = f"{head}\n\n…{body(sents)}…{foot}"
        if tg_len(text) <= max_len or len(sents) <= 1:
            break
        cited_at = next((i for i, s in enumerate(sents) if s.cited), len(sents) // 2)
        # Drop from the side that is longer, keeping the cited sentence.
        if cited_at >= len(sents) - 1 - cited_at:
            sents.pop(0)
        else:
            sents.pop()
    if tg_len(text) > max_len:
        only = " ".join(sents[0].text.split()) if sents else ""
        budget = max_len - tg_len(f"{head}\n\n<b>…</b>{foot}")
        piece = (split_text(only, max(budget, 16)) or [""])[0]
        text = f"{head}\n\n<b>{esc(piece)}…</b>{foot}"
    return text


def render_latest(articles: Sequence[ArticleSummary]) -> list[str]:
    """/latest: the most recently indexed articles."""
    if not articles:
        return ["The index holds no articles yet."]
    units = ["<b>Latest articles</b>"]
    units.extend(cite_line(a.title, a.url, a.source, a.date, prefix="• ") for a in articles)
    return pack(units)


def render_about(about: IndexSummary) -> str:
    """/about: what the index holds."""
    sources = about.sources
    # At most 2 x MAX_SOURCE units of HTML per name: ten of them always fit one message.
    names = ", ".join(f"{fit(s.name, 2 * MAX_SOURCE, MAX_SOURCE) or 'unknown'} ({s.articles})"
                      for s in sources[:10])
    if len(sources) > 10:
        names += f" and {len(sources) - 10} more"
    earliest, latest = about.earliest, about.latest
    span = f"{format_date(earliest)} to {format_date(latest)}" if earliest and latest else "unknown"
    updated = about.last_update
    lines = [
        "<b>What I know about</b>",
        f"Articles: {about.articles:,} ({about.sentences:,} sentences)",
        f"Sources: {names or 'none'}",
        f"Dates: {span}",
        f"Last update: {updated:%Y-%m-%d %H:%M} UTC" if updated else "Last update: unknown",
        f"Index version: <code>{esc(about.version)}</code>",
    ]
    text = "\n".join(lines)
    return text if tg_len(text) <= MAX_MESSAGE else pack(lines)[0]


def render_stats(snap: StatsSnapshot, version: str | None = None) -> str:
    """/stats for admins."""
    started = datetime.fromtimestamp(snap.started_at, tz=UTC)
    lines = [
        "<b>Since start</b> " + f"({started:%Y-%m-%d %H:%M} UTC)",
        f"Questions served: {snap.questions}",
        f"Unanswered: {snap.unanswered} ({snap.unanswered_share:.0%})",
        f"Latency: p50 {snap.p50_ms:.0f} ms, p95 {snap.p95_ms:.0f} ms, p99 {snap.p99_ms:.0f} ms",
        f"Refused (not allowed): {snap.refused}; rate-limited: {snap.rate_limited}; errors: {snap.errors}",
    ]
    if version:
        lines.append(f"Index version: <code>{esc(version)}</code>")
    return "\n".join(lines)
