"""Feed URLs, feed files and article URLs as ingest sources (``newsbot index add URL``).

:func:`iter_url_articles` is what ``index.sources.iter_articles`` calls for URLs and for
``.rss`` / ``.atom`` / ``.xml`` files. :func:`article_for_item` (one feed item → one article,
fetching its page, falling back to the feed's own text) is shared with ``watch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from index.errors import FetchError, IngestError, IngestNote
from index.models import Article
from index.settings import IndexSettings
from index.sources.feeds import FeedItem, ParsedFeed, fallback_article, looks_like_feed, parse_feed
from index.sources.fetch import Fetcher, FetchResult
from index.sources.files import read_limited
from index.sources.settings import LiveSettings, load_live_settings
from index.sources.urlpolicy import normalize_url, same_site
from index.sources.urls import is_url

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

#: "HTML page → article" ``(html, origin, url)``: the caller's extractor, i.e.
#: ``index.sources.html.parse_html`` (passed in by ``index.sources.urls`` and ``watch``, so
#: this module never imports ``index.sources``, which hands URLs to it).
HtmlParser = Callable[[str, str, str | None], Article]


@dataclass(frozen=True)
class ItemOutcome:
    """What became of one feed item.

    ``article`` is None when nothing can be indexed (``error`` says why) or when the page
    answered 304. With ``fallback`` the page failed and the article is the feed's own text
    instead (``error`` says why the page was not used). ``note`` is worth a line but is no
    failure: an item without a link is indexed from the feed's text as it stands.
    """

    article: Article | None
    error: IngestError | None = None
    fallback: bool = False
    not_modified: bool = False
    page: FetchResult | None = None
    note: IngestNote | None = None


def page_article(page: FetchResult, item: FeedItem | None, feed: ParsedFeed | None,
                 parse_html: HtmlParser) -> Article:
    """Extract a fetched page and complete it from the feed item's metadata.

    The page's canonical URL becomes the id (so one story through several feeds or tracking
    links is one article), but only when it is on the host that served the page: a page must
    not be able to claim another site's article id and overwrite it.
    """
    article = parse_html(page.text, page.url, page.url)
    canonical = article.url
    if not canonical or not canonical.lower().startswith(("http://", "https://")):
        canonical = None
    if canonical is None or not same_site(canonical, page.url):
        canonical = page.url
    canonical = normalize_url(canonical)
    update: dict[str, object] = {"id": canonical, "url": canonical, "origin": page.url}
    if item is not None:
        if not article.title and item.title:
            update["title"] = item.title
        if article.date is None and item.published is not None:
            update["date"] = item.published
    if not article.source and feed is not None and feed.title:
        update["source"] = feed.title
    return article.model_copy(update=update)


def article_for_item(item: FeedItem, feed: ParsedFeed, fetcher: Fetcher, *,
                     etag: str | None = None, last_modified: str | None = None,
                     parse_html: HtmlParser, fallback: bool = True) -> ItemOutcome:
    """Fetch an item's page (as an untrusted URL) and extract it; fall back to the feed's text
    (unless ``fallback`` is False: ``watch`` keeps a full article indexed before rather than
    replacing it with a summary).

    Never raises for a bad page: the outcome carries the one-line reason.
    """
    if not item.link:
        where = f"{feed.url} item {item.guid or item.title or '?'!r}"
        try:
            art = fallback_article(item, feed)
        except IngestError:
            return ItemOutcome(None, IngestError(where, "item has no link and no content; skipped"))
        # Nothing failed: the feed's text is all there is of this item (see docs/feeds.md).
        note = IngestNote(where, "item has no link; indexed the feed's content instead")
        return ItemOutcome(art, note=note)
    try:
        page = fetcher.get(item.link, trusted=False, etag=etag, last_modified=last_modified,
                           accept=PAGE_ACCEPT)
        if page.not_modified:
            return ItemOutcome(None, not_modified=True, page=page)
        return ItemOutcome(page_article(page, item, feed, parse_html), page=page)
    except IngestError as exc:
        failure: IngestError = exc
    except Exception as exc:  # an extractor bug on one odd page must not stop the round
        failure = IngestError(item.link, f"extraction failed ({type(exc).__name__}: {exc})")
    if not fallback:
        return ItemOutcome(None, failure)
    try:
        art = fallback_article(item, feed)
    except IngestError:
        return ItemOutcome(None, failure)
    kind = FetchError if isinstance(failure, FetchError) else IngestError
    return ItemOutcome(art, kind(failure.origin, f"{failure.reason}; indexed the feed's summary instead"),
                       fallback=True)


def iter_feed_articles(feed: ParsedFeed, fetcher: Fetcher,
                       parse_html: HtmlParser) -> Iterator[Article | IngestError]:
    """Every item of a parsed feed as an article (or a one-line error or note), each page
    fetched once."""
    done: dict[str, Article | None] = {}
    for item in feed.items:
        key = item.key
        if key in done:
            previous = done[key]
            if previous is not None:
                yield previous  # the pipeline counts it as a duplicate
            continue
        outcome = article_for_item(item, feed, fetcher, parse_html=parse_html)
        done[key] = outcome.article
        if outcome.note is not None:
            yield outcome.note  # the pipeline prints it, and does not count it as failed
        if outcome.error is not None:
            yield outcome.error
        if outcome.article is not None:
            yield outcome.article


def iter_url_articles(source: str, settings: IndexSettings, live: LiveSettings | None = None, *,
                      parse_html: HtmlParser) -> Iterator[Article | IngestError]:
    """Articles from a feed URL, a feed file, or an article URL; one error line per bad input,
    an :class:`IngestNote` (not a failure) per item indexed without a link.

    The URL the operator names is trusted (it may be on an intranet); the item links a feed
    names are not (see :mod:`index.sources.urlpolicy`). Never raises for one bad input.
    """
    live = live or load_live_settings()
    with Fetcher(live, allow_private=settings.allow_private_urls) as fetcher:
        if not is_url(source):
            try:
                # the one bounded reader: a FIFO, a device or a symlink to /dev/zero is refused
                data = read_limited(Path(source), source, settings.max_file_bytes)
                feed = parse_feed(data, source)
            except IngestError as exc:
                yield exc
                return
            yield from iter_feed_articles(feed, fetcher, parse_html)
            return
        try:
            result = fetcher.get(source, trusted=True, accept=FEED_ACCEPT)
        except IngestError as exc:
            yield exc
            return
        try:
            if looks_like_feed(result.content, result.content_type):
                feed = parse_feed(result.content, source, result.content_type)
                yield from iter_feed_articles(feed, fetcher, parse_html)
            else:
                yield page_article(result, None, None, parse_html)
        except IngestError as exc:
            yield exc
