"""Pure feed parsing: RSS 0.9x/1.0/2.0 and Atom bytes → :class:`ParsedFeed` (via feedparser).

Never hand feedparser a string: it treats strings as URLs or file names and would fetch them
itself, outside our URL policy. We always give it the bytes we fetched or read.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html
from lxml import etree

from index.errors import FetchError, IngestError
from index.models import Article, content_hash
from index.sources.urlpolicy import normalize_url

_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "tr", "table", "section", "article", "pre", "figure", "figcaption", "header", "footer", "hr",
})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_FEED_SNIFF = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(rss|feed|rdf:RDF)\b", re.DOTALL)


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, as the feed itself describes it (before fetching the page)."""

    guid: str | None
    link: str | None
    title: str
    published: datetime | None
    #: Plain text of the entry's content or summary (the longer one), for the fallback article.
    text: str

    @property
    def key(self) -> str:
        """Identity of the item across rounds and feeds: its link, else its guid, else its text."""
        if self.link:
            return normalize_url(self.link)
        if self.guid:
            return "guid:" + self.guid
        return "sha256:" + content_hash(self.title + "\n" + self.text)[:16]

    @property
    def item_hash(self) -> str:
        """Changes when the feed's description of the item changes (then the page is re-checked)."""
        parts = [self.title, self.link or "", self.guid or "", str(self.published), self.text]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    url: str
    title: str
    version: str
    items: list[FeedItem] = field(default_factory=list)


def looks_like_feed(content: bytes, content_type: str | None) -> bool:
    """Whether a fetched body is a feed (by its root element; media types are often wrong)."""
    if _FEED_SNIFF.match(content[:4096].lstrip(b"\xef\xbb\xbf")):
        return True
    ctype = (content_type or "").split(";")[0].strip().lower()
    return ctype in ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


def html_to_text(fragment: str) -> str:
    """Readable text of an HTML fragment (feed summaries): paragraphs kept, tags dropped."""
    if "<" not in fragment:
        return _tidy(unescape(fragment))
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy(unescape(re.sub(r"<[^>]+>", " ", fragment)))
    for el in root.iter("script", "style"):
        el.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCK_TAGS:
            el.tail = "\n\n" + (el.tail or "")
    return _tidy(root.text_content())


def _tidy(text: str) -> str:
    paragraphs = (_SPACES.sub(" ", p).strip() for p in re.split(r"\s*\n\s*\n\s*|\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def _entry_date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (TypeError, ValueError, OverflowError, OSError):
                continue
    return None


def _entry_text(entry: Mapping[str, Any]) -> str:
    candidates: list[str] = [str(c.get("value", "")) for c in entry.get("content", []) or []]
    candidates.append(str(entry.get("summary", "") or ""))
    texts = [html_to_text(c) for c in candidates if c.strip()]
    return max(texts, key=len, default="")


def _is_fatal(exc: BaseException | None) -> bool:
    """feedparser's bozo covers harmless things (wrong media type, encoding override);
    XML that does not parse is the fatal kind."""
    return isinstance(exc, xml.sax.SAXException)


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_REPLACEMENT_REF = b"&#xFFFD;"


def replace_surrogate_refs(content: bytes) -> bytes:
    """Character references to UTF-16 surrogates (``&#xD83D;``, half an emoji) made U+FFFD.

    No XML character can be a surrogate, and feedparser crashes on them; one such item
    would otherwise cost the whole feed its good items.
    """

    def fix(m: re.Match[bytes]) -> bytes:
        code = int(m.group(1), 16) if m.group(1) is not None else int(m.group(2))
        return _REPLACEMENT_REF if 0xD800 <= code <= 0xDFFF else m.group(0)

    return _CHAR_REF.sub(fix, content) if b"&#" in content else content


def parse_feed(content: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes. Raises FetchError (one line naming ``url``) for HTML served as a feed,
    XML that is not well formed, or a document that is not RSS/Atom at all.
    """
    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(replace_surrogate_refs(bytes(content)), response_headers=headers,
                                  sanitize_html=True, resolve_relative_uris=True)
    except Exception as crash:  # feedparser is lenient, but one odd document must not stop a round
        raise FetchError(url, f"unreadable feed ({type(crash).__name__}: {crash})") from None
    exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version"):
        head = content[:512].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise FetchError(url, "not a feed: the document is HTML")
        if exc is not None:
            raise FetchError(url, f"malformed feed XML: {_describe(exc)}")
        raise FetchError(url, "not an RSS or Atom feed")
    if _is_fatal(exc):
        assert exc is not None
        raise FetchError(url, f"malformed feed XML: {_describe(exc)}")
    title = _tidy(unescape(str(parsed.feed.get("title", "") or "")))
    items = []
    for entry in parsed.entries:
        guid = str(entry.get("id", "") or "").strip() or None
        link = _entry_link(entry, url)
        items.append(FeedItem(
            guid=guid, link=link, title=_tidy(unescape(str(entry.get("title", "") or ""))),
            published=_entry_date(entry), text=_entry_text(entry),
        ))
    return ParsedFeed(url=url, title=title, version=str(parsed.version), items=items)


def _entry_link(entry: Mapping[str, Any], feed_url: str) -> str | None:
    """The item's absolute link. feedparser turns a bare ``<guid>`` into a "link" (RSS says a
    guid is a permalink by default); a guid like ``n1`` is not one, so it is dropped. Relative
    links are resolved against the feed's URL (not possible for a feed file)."""
    link = str(entry.get("link", "") or "").strip()
    if not link:
        return None
    if "://" in link or link.lower().startswith(("mailto:", "javascript:", "data:")):
        return link
    if entry.get("guidislink"):
        return None
    if "://" in feed_url:
        return urljoin(feed_url, link)
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        return f"{exc.getMessage()} (line {exc.getLineNumber()})"
    return " ".join(str(exc).split()) or type(exc).__name__


def item_id(item: FeedItem, feed_url: str) -> str:
    """Article id for an item indexed from the feed itself: its link, else a guid that is a
    URL, else the guid scoped to its feed (guids like ``1`` repeat across feeds)."""
    if item.link:
        return normalize_url(item.link)
    if item.guid and item.guid.lower().startswith(("http://", "https://")):
        return normalize_url(item.guid)
    if item.guid:
        return f"{normalize_url(feed_url)}#{item.guid}"
    return "sha256:" + content_hash(item.text)[:16]


def fallback_article(item: FeedItem, feed: ParsedFeed) -> Article:
    """The article made from the feed's own content or summary, when the page is not usable.
    Raises IngestError when the item has no text of its own either."""
    origin = item.link or f"{feed.url} item {item.guid or item.title or '?'}"
    if not item.text.strip():
        raise IngestError(origin, "feed item has no content or summary to fall back on")
    return Article(
        id=item_id(item, feed.url), title=item.title, body=item.text, date=item.published,
        url=normalize_url(item.link) if item.link else None, source=feed.title or None, origin=origin,
    )
