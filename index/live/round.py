"""One round's work over the loaded live state: fetch the feeds (conditional GET, backoff),
choose the items (newest first, per-feed and per-round caps: :func:`take_newest`), fetch and
dedup their articles, expire old ones; and the round's counts (:class:`RoundReport`).
Nothing here publishes or saves: :func:`index.live.watch.run_round` does, after the round."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from index.errors import IngestError, IngestNote, NewsbotError
from index.live.state import ArticleRecord, FeedRecord, ItemRecord, LiveState, backoff_rounds
from index.models import Article
from index.sources.feeds import FeedItem, ParsedFeed, parse_feed
from index.sources.fetch import Fetcher, interleave_by_host
from index.sources.files import read_limited
from index.sources.html import parse_html
from index.sources.pages import FEED_ACCEPT, article_for_item
from index.sources.settings import LiveSettings
from index.sources.urls import is_url

log = logging.getLogger("newsbot.watch")


@dataclass
class RoundReport:
    """Counts of one round, and the per-round log line."""

    round: int
    feeds_fetched: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_backing_off: int = 0
    articles_new: int = 0
    articles_updated: int = 0
    articles_duplicate: int = 0
    articles_failed: int = 0
    articles_fallback: int = 0
    articles_removed: int = 0
    #: New or changed items left for the next rounds (NEWSBOT_FEED_MAX_ITEMS / _ROUND_MAX_ARTICLES).
    articles_deferred: int = 0
    seconds: float = 0.0
    version: str | None = None
    published: bool = False
    errors: list[str] = field(default_factory=list)
    #: Lines worth logging that are no failure (an item without a link, items left for later).
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        extra = [f"fallback {self.articles_fallback}", f"removed {self.articles_removed}"]
        if self.feeds_backing_off:
            extra.insert(0, f"feeds backing off {self.feeds_backing_off}")
        if self.articles_deferred:
            extra.insert(0, f"left for next rounds {self.articles_deferred}")
        extra.append(f"version {self.version}" if self.published else "no new version")
        return (f"round {self.round}: feeds fetched {self.feeds_fetched}, not modified "
                f"{self.feeds_not_modified}, failed {self.feeds_failed}; articles new {self.articles_new}, "
                f"updated {self.articles_updated}, duplicate {self.articles_duplicate}, failed "
                f"{self.articles_failed}; {self.seconds:.2f}s ({', '.join(extra)})")


#: One feed item to fetch and index this round, with the feed that lists it.
Task = tuple[ParsedFeed, FeedItem]


def newest_first(tasks: Sequence[Task]) -> list[Task]:
    """Dated items newest first, then undated ones in the feed's own order."""
    return sorted(tasks, key=lambda t: (t[1].published is None,
                                        -t[1].published.timestamp() if t[1].published else 0.0))


def take_newest(tasks: Sequence[Task], per_feed: int, per_round: int) -> tuple[list[Task], dict[str, int]]:
    """The tasks one round takes: at most ``per_feed`` from each feed (its newest), at most
    ``per_round`` in all, taken round-robin across feeds so one huge feed cannot crowd out the
    others. Returns them and, per feed URL, how many were left for later rounds."""
    by_feed: dict[str, list[Task]] = {}
    for task in tasks:
        by_feed.setdefault(task[0].url, []).append(task)
    queues = {url: newest_first(group)[:per_feed] for url, group in by_feed.items()}
    taken: list[Task] = []
    counts = dict.fromkeys(by_feed, 0)
    for i in range(max((len(q) for q in queues.values()), default=0)):
        for url, queue in queues.items():
            if i < len(queue) and len(taken) < per_round:
                taken.append(queue[i])
                counts[url] += 1
    left = {url: len(group) - counts[url] for url, group in by_feed.items() if len(group) > counts[url]}
    return taken, left


class Stopped(Exception):
    """SIGTERM/SIGINT arrived: the round is abandoned between two steps, nothing published."""


class Round:
    """The work of one round over one loaded state (discarded unless published)."""

    def __init__(self, state: LiveState, fetcher: Fetcher, live: LiveSettings, stop: threading.Event,
                 cutoff: datetime | None) -> None:
        self.state = state
        self.fetcher = fetcher
        self.live = live
        self.stop = stop
        self.cutoff = cutoff
        self.report = RoundReport(round=state.round)
        self.upserts: dict[str, Article] = {}
        self.removals: set[str] = set()
        #: Each fetched feed's validators from before this round (see _keep_for_next_round).
        self._old_validators: dict[str, tuple[str | None, str | None]] = {}

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def _fail(self, error: NewsbotError, level: int = logging.WARNING) -> None:
        line = error.one_line()
        self.report.errors.append(line)
        log.log(level, line)

    def _note(self, note: IngestNote) -> None:
        line = note.one_line()
        self.report.notes.append(line)
        log.info(line)

    def _retry_after(self, failures: int) -> int:
        return self.state.round + 1 + backoff_rounds(failures, self.live.backoff_max_rounds)

    # --- feeds ---
    def fetch_feeds(self, feeds: Sequence[str]) -> list[ParsedFeed]:
        pending_retry = {i.feed_url for i in self.state.items.values()
                         if (i.failures or i.fallback) and self.state.due(i.retry_round)}
        parsed: list[ParsedFeed] = []
        for src in feeds:
            self._check_stop()
            rec = self.state.feeds.get(src) or FeedRecord(src)
            if not self.state.due(rec.retry_round):
                self.report.feeds_backing_off += 1
                log.info("backing off: %s (failed %d times; next try in round %d): %s",
                         src, rec.failures, rec.retry_round, rec.last_error)
                continue
            # A feed whose items wait for a retry is fetched in full, to see those items again.
            conditional = src not in pending_retry
            self._old_validators[src] = (rec.etag, rec.last_modified)
            try:
                feed = self._fetch_feed(src, rec, conditional)
            except IngestError as exc:
                self.report.feeds_failed += 1
                rec.failures += 1
                rec.retry_round = self._retry_after(rec.failures)
                rec.last_error = exc.one_line()
                self._fail(exc)
            else:
                rec.failures, rec.retry_round, rec.last_error = 0, 0, None
                if feed is None:
                    self.report.feeds_not_modified += 1
                else:
                    self.report.feeds_fetched += 1
                    rec.title = feed.title
                    parsed.append(feed)
            self.state.put_feed(rec)
        return parsed

    def _fetch_feed(self, src: str, rec: FeedRecord, conditional: bool) -> ParsedFeed | None:
        if not is_url(src):
            path = Path(src)
            try:
                stamp = f"{path.stat().st_mtime_ns}:{path.stat().st_size}"
            except OSError as exc:
                raise IngestError(src, f"cannot read feed file: {exc.strerror or exc}") from None
            if conditional and rec.last_modified == stamp:
                return None
            data = read_limited(path, src, self.live.max_page_bytes)
            feed = parse_feed(data, src)
            rec.etag, rec.last_modified = None, stamp
            return feed
        result = self.fetcher.get(src, trusted=True, accept=FEED_ACCEPT,
                                  etag=rec.etag if conditional else None,
                                  last_modified=rec.last_modified if conditional else None)
        if result.not_modified:
            return None
        feed = parse_feed(result.content, src, result.content_type)
        rec.etag, rec.last_modified = result.etag, result.last_modified
        return feed

    # --- items ---
    def select_items(self, feeds: Sequence[ParsedFeed]) -> list[tuple[ParsedFeed, FeedItem]]:
        """New or changed items, and failed ones whose backoff is over; duplicates counted."""
        seen: dict[str, str] = {}
        tasks: list[tuple[ParsedFeed, FeedItem]] = []
        self._forget_vanished_retries(feeds)
        for feed in feeds:
            for item in feed.items:
                key = item.key
                if key in seen:
                    self.report.articles_duplicate += 1
                    log.info("duplicate item: %s in %s (already in %s)",
                             item.link or key, feed.url, seen[key])
                    continue
                seen[key] = feed.url
                if self.cutoff and item.published and item.published < self.cutoff:
                    continue  # older than --max-age: not worth a fetch
                rec = self.state.items.get(key)
                if rec is not None:
                    waiting = rec.failures > 0 or rec.fallback
                    if rec.item_hash == item.item_hash and not waiting:
                        continue  # unchanged since it was indexed
                    if waiting and rec.item_hash == item.item_hash and not self.state.due(rec.retry_round):
                        continue  # backing off
                tasks.append((feed, item))
        taken, left = take_newest(tasks, self.live.feed_max_items, self.live.round_max_articles)
        if left:
            self._keep_for_next_round(left)
        return interleave_by_host(taken, lambda task: task[1].link)

    def _keep_for_next_round(self, left: dict[str, int]) -> None:
        """Items over the caps are not processed, so the state does not mark them seen. Their
        feeds keep the validators they had before this round, so the next round's conditional
        GET gets them in full again (not a 304) and takes the next newest items."""
        for url in left:
            rec = self.state.feeds[url]
            rec.etag, rec.last_modified = self._old_validators[url]
            self.state.put_feed(rec)
        total = sum(left.values())
        self.report.articles_deferred = total
        biggest = max(left, key=lambda url: left[url])
        self._note(IngestNote(
            f"round {self.state.round}",
            f"{total} new or changed items left for the next rounds (at most {self.live.feed_max_items} "
            f"per feed and {self.live.round_max_articles} per round: NEWSBOT_FEED_MAX_ITEMS, "
            f"NEWSBOT_ROUND_MAX_ARTICLES); most from {biggest} ({left[biggest]})"))

    def _forget_vanished_retries(self, feeds: Sequence[ParsedFeed]) -> None:
        """An item waiting for a retry that its feed no longer lists is not retried again
        (otherwise its feed would be fetched in full every round, forever)."""
        listed = {feed.url: {item.key for item in feed.items} for feed in feeds}
        for rec in list(self.state.items.values()):
            keys = listed.get(rec.feed_url)
            if keys is not None and (rec.failures or rec.fallback) and rec.key not in keys:
                rec.failures, rec.retry_round, rec.fallback = 0, 0, False
                self.state.put_item(rec)

    def process(self, feed: ParsedFeed, item: FeedItem) -> None:
        key = item.key
        rec = self.state.items.get(key)
        had_page = rec is not None and rec.article_id in self.state.articles and not rec.fallback
        outcome = article_for_item(
            item, feed, self.fetcher, parse_html=parse_html,
            etag=rec.page_etag if rec and had_page else None,
            last_modified=rec.page_last_modified if rec and had_page else None,
            fallback=not had_page,
        )
        new = ItemRecord(key=key, feed_url=feed.url, item_hash=item.item_hash,
                         article_id=rec.article_id if rec else None, page_url=item.link,
                         page_etag=rec.page_etag if rec else None,
                         page_last_modified=rec.page_last_modified if rec else None)
        if outcome.not_modified:
            self.state.put_item(new)
            return
        if outcome.page is not None and not outcome.fallback:
            new.page_etag, new.page_last_modified = outcome.page.etag, outcome.page.last_modified
        if outcome.note is not None:
            self._note(outcome.note)
        page_failed = outcome.article is None or (outcome.fallback and item.link is not None)
        if page_failed:
            new.failures = (rec.failures if rec else 0) + 1
            new.retry_round = self._retry_after(new.failures)
            new.last_error = outcome.error.one_line() if outcome.error else None
        if outcome.error is not None:
            error = outcome.error
            if outcome.article is None and had_page:
                kind = type(error)
                error = kind(error.origin, f"{error.reason}; the article indexed before is kept")
            self._fail(error, logging.WARNING if outcome.article is None else logging.INFO)
        art = outcome.article
        if art is None:
            self.report.articles_failed += 1
            self.state.put_item(new)
            return
        if outcome.fallback:
            self.report.articles_fallback += 1
            new.fallback = item.link is not None
        self._accept(art, new, rec)

    def _accept(self, art: Article, new: ItemRecord, rec: ItemRecord | None) -> None:
        """Dedup by id (canonical URL) and body hash, classify new/updated, stage the upsert."""
        state = self.state
        if self.cutoff and art.date and art.date < self.cutoff:
            state.put_item(new)
            return
        twin = state.article_with_body(art.body_hash)
        if art.id in self.upserts or (twin is not None and twin != art.id):
            self.report.articles_duplicate += 1
            log.info("duplicate: %s (same story as %s)", art.origin or art.id,
                     art.id if art.id in self.upserts else twin)
            new.article_id = art.id if art.id in self.upserts else twin
            state.put_item(new)
            return
        old_id = rec.article_id if rec is not None else None
        if old_id and old_id != art.id and old_id in state.articles:
            # The item now resolves to another id (e.g. its page works now and names a
            # canonical URL): the old article is replaced, not kept beside it.
            self.removals.add(old_id)
            state.drop_article(old_id)
        known = state.articles.get(art.id)
        if known is None:
            self.report.articles_new += 1
        elif known.revision_hash != art.revision_hash:
            self.report.articles_updated += 1
        else:
            new.article_id = art.id
            state.put_item(new)
            return
        self.removals.discard(art.id)
        self.upserts[art.id] = art
        state.put_article(ArticleRecord(art.id, art.body_hash, art.revision_hash, art.date))
        new.article_id = art.id
        state.put_item(new)

    def expire(self) -> None:
        if self.cutoff is None:
            return
        for aid, rec in list(self.state.articles.items()):
            if rec.date is not None and rec.date < self.cutoff:
                self.removals.add(aid)
                self.upserts.pop(aid, None)
                self.state.drop_article(aid)
        self.report.articles_removed = len(self.removals)
