"""HTML pages to Articles via trafilatura (main-text extraction), plus the head metadata it
does not give us exactly: the ``<link rel=canonical>`` URL (the article's identity, so a
page fetched with tracking parameters and the same page saved to disk are one article) and
the full ``article:published_time`` timestamp (trafilatura keeps only the day).

``parse_html`` is pure (markup in, Article out) and is reused for pages fetched by
:mod:`index.sources.pages` and the ``watch`` updater.
"""

from __future__ import annotations

import codecs
import html as html_module
import re
from typing import Any
from urllib.parse import urljoin

import trafilatura
from lxml import html as lxml_html

from index.errors import IngestError
from index.models import Article, article_id_for
from index.sources.dates import parse_date
from index.sources.lines import classify, strip_site_suffix

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_PUBLISHED_META = (
    "article:published_time", "og:published_time", "datePublished", "date", "pubdate",
    "publish-date", "publish_date", "parsely-pub-date", "sailthru.date", "dc.date", "DC.date.issued",
)


def decode_html(data: bytes) -> str:
    """Bytes of a page as text: BOM, then ``<meta charset>``, then UTF-8, then Windows-1252
    (what browsers assume for undeclared legacy pages)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace").lstrip("\ufeff")
    m = _META_CHARSET.search(data[:8192])
    if m:
        try:
            declared = codecs.lookup(m.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            declared = None
        if declared:
            # pages that declare latin-1 are almost always really windows-1252
            declared = "cp1252" if declared in ("latin_1", "iso8859-1", "ascii") else declared
            try:
                return data.decode(declared, errors="replace")
            except (LookupError, UnicodeError):
                # a codec that is not a text encoding ("base64", "rot13": LookupError) or that
                # cannot replace bad bytes ("idna", "punycode"): read the page as undeclared
                pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _head_value(tree: Any, names: tuple[str, ...]) -> str | None:
    for name in names:
        for attr in ("property", "name", "itemprop"):
            values = tree.xpath(f"//meta[@{attr}=$n]/@content", n=name)
            for value in values:
                if value and value.strip():
                    return str(value).strip()
    return None


def _canonical_url(tree: Any, base: str | None) -> str | None:
    hrefs = tree.xpath(
        "//link[contains(concat(' ', normalize-space(translate(@rel, 'CANONICAL', 'canonical')), ' '),"
        " ' canonical ')]/@href"
    )
    href = next((str(h).strip() for h in hrefs if str(h).strip()), None) or _head_value(tree, ("og:url",))
    if not href:
        return base
    absolute = urljoin(base, href) if base else href
    return absolute if absolute.startswith(("http://", "https://")) else base


def _clean_text(text: str, title: str) -> tuple[str, str | None, str | None]:
    """Main text with page chrome lines dropped, as paragraphs separated by blank lines.

    Returns (body, byline, date line) where the last two were found among the text lines.
    """
    paragraphs: list[str] = []
    byline: str | None = None
    date_text: str | None = None
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line == title:
            continue
        info = classify(line)
        if info.kind == "content":
            paragraphs.append(line)
        elif info.kind in ("byline", "meta") and info.byline and byline is None:
            byline = info.byline
        elif info.kind == "date" and date_text is None:
            date_text = line
    return "\n\n".join(paragraphs), byline, date_text


def parse_html(html: str | bytes, origin: str, url: str | None = None) -> Article:
    """One article page as an Article; raises IngestError when no article text is found.

    ``url`` is where the page was fetched from (None for files); the page's canonical URL,
    when it declares one, becomes the article URL and therefore its id.
    """
    text = decode_html(html) if isinstance(html, bytes) else html
    text = _XML_DECL.sub("", text, count=1)
    if not text.strip():
        raise IngestError(origin, "empty page")
    try:
        tree = lxml_html.document_fromstring(text)
    except (ValueError, lxml_html.etree.ParserError) as exc:
        raise IngestError(origin, f"unparseable HTML ({exc})") from None
    canonical = _canonical_url(tree, url)
    published = parse_date(_head_value(tree, _PUBLISHED_META))
    try:
        extracted = trafilatura.bare_extraction(
            tree, url=canonical, with_metadata=True, include_comments=False, include_tables=False,
        )
    except Exception as exc:  # a third-party extractor on arbitrary markup: one bad page,
        # whatever it raises, must be one skipped input and not the end of a build
        raise IngestError(origin, f"HTML extraction failed ({type(exc).__name__}: {exc})") from None
    doc: dict[str, Any] = (
        extracted if isinstance(extracted, dict) else extracted.as_dict() if extracted is not None else {}
    )
    if not doc.get("text"):
        raise IngestError(origin, "no extractable article text")
    source = doc.get("sitename") or doc.get("hostname") or None
    title = strip_site_suffix(" ".join(str(doc.get("title") or "").split()), source)
    body, text_byline, date_line = _clean_text(str(doc["text"]), title)
    if not body:
        raise IngestError(origin, "no extractable article text")
    date = published or parse_date(doc.get("date")) or parse_date(date_line)
    return Article(
        id=article_id_for(None, canonical, body),
        title=title,
        body=body,
        date=date,
        url=canonical,
        source=source,
        byline=doc.get("author") or text_byline or None,
        origin=origin,
    )


_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,9});")
_MARKUP = re.compile(
    r"<(?:p|br|div|span|a|em|strong|b|i|h[1-6]|ul|ol|li|blockquote|figure|img)\b[^>]*>", re.I
)
_BLOCKS = frozenset({"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote",
                     "figure", "figcaption", "ul", "ol", "section", "article", "tr", "table", "pre"})


def unescape_entities(text: str) -> str:
    """``&#163;`` → ``£`` and ``&amp;`` → ``&`` in text fields of dumps made from web pages.

    Only complete references (with the semicolon) are touched, so "AT&T" or "R&D" stay.
    """
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda m: html_module.unescape(m.group()), text)


def looks_like_markup(text: str) -> bool:
    """True for a body holding HTML markup (WordPress and CMS exports store it that way)."""
    return "<" in text and _MARKUP.search(text) is not None


def markup_to_text(fragment: str) -> str:
    """An HTML fragment as plain text, one paragraph per block element, blank-line separated."""
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (ValueError, lxml_html.etree.ParserError):
        return fragment
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCKS:
            el.tail = "\n\n" + (el.tail or "")
            if el.tag.lower() != "br":
                el.text = "\n\n" + (el.text or "")
    text = root.text_content()
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)
