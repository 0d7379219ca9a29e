"""Plain-text page scrapes (.txt/.md) to Articles: chrome out, metadata found, paragraphs kept.

A scrape is the visible text of a news page, top to bottom: site furniture, maybe a date
and a byline, the headline, a standfirst, body paragraphs with subheads and "Read more"
teasers, and a footer. Every line is classified on its own (``index.sources.lines``);
the headline is the first substantial content line before the body starts that does not
end like a sentence. Paragraphs stay separated by blank lines in the body, so a subhead
("Fight till the end") is never glued onto the sentence after it. Hard-wrapped paragraphs
(one sentence spread over several lines) are rejoined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from index.errors import IngestError
from index.models import Article, article_id_for
from index.sources.lines import LineInfo, classify, strip_markup, strip_site_suffix

#: A line that ends like a sentence (a headline does not, a body paragraph does).
_SENTENCE_END = re.compile(r"""(?:(?<![.])[.]|[;,:])["”’')\]]*$""")
_TERMINAL = re.compile(r"""[.!?:;]["”’')\]]*$""")
_BULLET = re.compile(r"^(?:[-*•‣◦▪–—]\s|\d{1,3}[.)]\s|\(?[a-z][.)]\s)")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((?:https?://|/)[^)\s]*\)")
_GLUED_BYLINE = re.compile(
    r"""[.!?]["”’]?(?P<byline>(?:[A-Z][\w&'’-]*\s+){0,4}(?:News\s+Desk|Web\s+Desk|Desk|Staff\s+Reporter|"""
    r"""Staff\s+Writer|Correspondent|Bureau))$"""
)
#: How far down (in non-blank lines) a headline may appear below the site chrome.
_TITLE_SEARCH_LINES = 15
#: A content line before the headline this short is a section label ("WORLD", "Opinion").
_KICKER_MAX_WORDS = 2
#: An unpunctuated line at least this long, followed by more text, is a hard-wrapped line.
_WRAP_MIN_CHARS = 50


@dataclass
class _Meta:
    title: str | None = None
    date: datetime | None = None
    site: str | None = None
    byline: str | None = None
    url: str | None = None
    dropped: set[int] = field(default_factory=set)

    def absorb(self, info: LineInfo) -> None:
        """First value of each field wins: headers come before footers."""
        self.title = self.title or info.title
        self.date = self.date or info.date
        self.site = self.site or info.site
        self.byline = self.byline or info.byline
        self.url = self.url or info.url


def _looks_like_title(line: str) -> bool:
    words = line.split()
    return (
        3 <= len(words) <= 30
        and len(line) <= 250
        and not _SENTENCE_END.search(line)
        and not (words[0][0].islower() and words[0].islower())  # "iTunes", "$1m" fine; "and" not
    )


def _scan(lines: list[str]) -> tuple[_Meta, list[str | None]]:
    """Classify every line; returns metadata and the kept content lines (None = not kept)."""
    meta = _Meta()
    kept: list[str | None] = [None] * len(lines)
    searching_title = True
    seen = 0
    for idx, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        seen += 1
        info = classify(line)
        if info.kind != "content":
            meta.absorb(info)
            continue
        text = strip_markup(_MD_LINK.sub(r"\1", line))
        if searching_title and meta.title is None:
            if _looks_like_title(text):
                meta.title = text
                searching_title = False
                continue
            if len(text.split()) <= _KICKER_MAX_WORDS and not _TERMINAL.search(text):
                continue  # section label above the headline
            if _TERMINAL.search(text) or seen > _TITLE_SEARCH_LINES:
                searching_title = False  # the body started: this scrape has no headline line
        elif meta.title is not None and text == meta.title:
            continue  # the headline repeated (page title and article heading)
        searching_title = False
        kept[idx] = text
    return meta, kept


def _join_block(block: list[str]) -> str:
    """One blank-line-separated block: rejoin hard-wrapped lines, keep real line breaks."""
    out = block[0]
    for prev, line in pairwise(block):
        wrapped = (
            not _BULLET.match(line)
            and not _TERMINAL.search(prev)
            and (line[0].islower() or len(prev) >= _WRAP_MIN_CHARS)
        )
        out += (" " if wrapped else "\n") + line
    return out


def _unglue_trailing_byline(kept: list[str | None], meta: _Meta) -> None:
    """A desk byline stuck to the last sentence ("...agreement.GVS News Desk") is taken off.

    Scrapers that drop the newline before the sign-off leave it glued to the final sentence,
    which would then be quoted with the byline in it.
    """
    last = max((i for i, line in enumerate(kept) if line is not None), default=None)
    if last is None:
        return
    line = kept[last] or ""
    m = _GLUED_BYLINE.search(line)
    if m is None:
        return
    info = classify(m.group("byline"))
    if info.kind == "byline":
        kept[last] = line[: m.start("byline")].rstrip()
        meta.byline = meta.byline or info.byline


def _assemble(kept: list[str | None]) -> str:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in kept:
        if line is None:  # blank or dropped line: a paragraph boundary
            if current:
                blocks.append(current)
                current = []
        else:
            current.append(line)
    if current:
        blocks.append(current)
    return "\n\n".join(_join_block(b) for b in blocks)


def parse_plaintext(text: str, origin: str) -> Article:
    """A plain-text or Markdown scrape as an Article; IngestError if no body text is left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").split("\n")
    if lines and lines[0].strip() == "---":  # Markdown front matter: its lines are "key: value"
        lines[0] = ""
    meta, kept = _scan(lines)
    _unglue_trailing_byline(kept, meta)
    body = _assemble(kept)
    title = strip_site_suffix(meta.title or "", meta.site)
    if not body:
        raise IngestError(origin, "empty body (no article text after removing page chrome)")
    return Article(
        id=article_id_for(None, meta.url, body),
        title=title,
        body=body,
        date=meta.date,
        url=meta.url,
        source=meta.site,
        byline=meta.byline,
        origin=origin,
    )
