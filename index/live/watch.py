"""``newsbot index watch``: fetch feeds in rounds, index new and changed articles.

One round: conditional GET of every feed (304 → nothing to do), fetch the pages of new or
changed items only (at most ``NEWSBOT_FEED_MAX_ITEMS`` per feed and
``NEWSBOT_ROUND_MAX_ARTICLES`` in all, newest first; the rest wait for the next rounds),
dedup by canonical URL and content hash, drop articles past the maximum age, then publish
everything as **one** new index version with one ``apply_changes`` call (none when nothing
changed). Live state is saved only after that publish (see
:mod:`index.live.state`), so a SIGKILL anywhere leaves the last version intact and the next
run simply redoes the unfinished round.

A failing feed or page is reported in one line, retried next round, then with backoff; it
never stops the others.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Protocol

from index.embedding import Embedder
from index.errors import ConfigError, IngestError, IngestNote, ModelMismatchError, NewsbotError
from index.live.state import ArticleRecord, FeedRecord, ItemRecord, LiveState, backoff_rounds
from index.models import Article
from index.settings import IndexSettings
from index.sources.feeds import FeedItem, ParsedFeed, parse_feed
from index.sources.fetch import Fetcher, interleave_by_host
from index.sources.files import read_limited
from index.sources.html import parse_html
from index.sources.pages import FEED_ACCEPT, article_for_item
from index.sources.settings import LiveSettings, load_live_settings
from index.sources.urls import is_url

log = logging.getLogger("newsbot.watch")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, setting: str = "duration") -> timedelta:
    """``15m``, ``365d``, ``1h30m``, ``90s``, ``2w`` → timedelta; anything else is a ConfigError."""
    s = text.strip().lower()
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(s):
        if s[pos:match.start()].strip():
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not s or pos == 0 or s[pos:].strip() or seconds <= 0:
        raise ConfigError(f"{setting}: {text!r} is not a duration like 90s, 15m, 2h, 365d")
    return timedelta(seconds=seconds)


def read_feeds_file(path: Path) -> list[str]:
    """Feed URLs (or feed file paths, relative to the feeds file) one per line; ``#`` comments."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"--feeds: cannot read {path}: {exc.strerror or exc}") from None
    feeds: list[str] = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()  # "#" inside a URL is a fragment, not a comment
        if not line or line.startswith("#"):
            continue
        if not is_url(line) and not Path(line).is_absolute():
            line = str(Path(path).parent / line)
        if line not in feeds:
            feeds.append(line)
    return feeds


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


#: How often ``watch`` asks the whole index to drop articles past ``--max-age``, even when the
#: feeds brought nothing (the first round always does).
SWEEP_EVERY = timedelta(days=1)

class PublishResult(Protocol):
    """What a round reads back from its publish (``index.pipeline.BuildReport`` is one)."""

    @property
    def version(self) -> str | None: ...  # the version now current
    @property
    def published(self) -> bool: ...  # False: nothing changed, no new version
    @property
    def added(self) -> int: ...
    @property
    def replaced(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def removed(self) -> int: ...
    @property
    def failures(self) -> Sequence[str]: ...  # one line per article not indexed


class Publisher(Protocol):
    """Publishes one round's changes as one new version (default: ``index.pipeline.apply_changes``)."""

    def __call__(self, upserts: Sequence[Article], removals: Sequence[str], settings: IndexSettings,
                 embedder: Embedder, *, max_age: timedelta | None, now: datetime) -> PublishResult: ...


def _default_publisher(upserts: Sequence[Article], removals: Sequence[str], settings: IndexSettings,
                       embedder: Embedder, *, max_age: timedelta | None, now: datetime) -> PublishResult:
    # Imported here, not at the top: the pipeline pulls in the store (FAISS, bm25s), which
    # watch's pure parts (feeds files, durations, selection) do not need.
    from index.pipeline import apply_changes

    return apply_changes(upserts, removals, settings, embedder, max_age=max_age, now=now)


class _Round:
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


def run_round(feeds: Sequence[str], settings: IndexSettings, embedder: Embedder, *,
              live: LiveSettings, fetcher: Fetcher, max_age: timedelta | None = None,
              now: datetime | None = None, stop: threading.Event | None = None,
              publish: Publisher = _default_publisher, sweep: bool = False) -> RoundReport:
    """One round against the state saved in ``settings.index_dir``; see the module docstring.

    ``sweep`` (with ``max_age``) asks the index itself to drop expired articles even when the
    feeds brought nothing: articles added by ``index add`` are not in the live state.
    Raises :class:`Stopped` when ``stop`` is set mid-round (nothing published or saved).
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    state = LiveState.load(settings.index_dir)
    state.round += 1
    work = _Round(state, fetcher, live, stop or threading.Event(), now - max_age if max_age else None)
    parsed = work.fetch_feeds(feeds)
    for feed, item in work.select_items(parsed):
        work._check_stop()
        work.process(feed, item)
    work.expire()
    report = work.report
    if work.upserts or work.removals or (sweep and max_age is not None):
        work._check_stop()
        build = publish(list(work.upserts.values()), sorted(work.removals), settings, embedder,
                        max_age=max_age, now=now)
        report.version = build.version
        report.published = build.published
        report.articles_removed = max(report.articles_removed, build.removed)
        # The index has the last word: an article our state did not know (state file deleted,
        # index rebuilt) may already be stored unchanged.
        report.articles_new, report.articles_updated = build.added, build.replaced
        report.articles_duplicate += build.duplicates
        for line in build.failures:
            report.errors.append(line)
            log.warning("not indexed: %s", line)
    state.save()
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``stop`` (the loop ends between two steps); a second one interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("%s received: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def watch(feeds_file: Path, settings: IndexSettings, embedder: Embedder, every: timedelta,
          max_age: timedelta | None = None, rounds: int | None = None, *,
          live: LiveSettings | None = None, stop: threading.Event | None = None,
          publish: Publisher = _default_publisher,
          on_round: Callable[[RoundReport], None] | None = None) -> list[RoundReport]:
    """Run rounds every ``every`` until stopped (or ``rounds`` rounds, for tests and cron).

    The feeds file is re-read every round, so edits apply without a restart. A round that
    cannot publish (index locked, disk full) is logged and retried next round; a wrong model
    or a bad setting ends the loop, since waiting will not fix it.
    """
    live = live or load_live_settings()
    stop = stop or threading.Event()
    reports: list[RoundReport] = []
    attempted = 0
    last_sweep: float | None = None
    feeds: list[str] | None = None
    with stop_on_signals(stop), Fetcher(live, allow_private=settings.allow_private_urls) as fetcher:
        while not stop.is_set():
            began = time.monotonic()
            try:
                feeds = read_feeds_file(feeds_file)
            except ConfigError as exc:
                if feeds is None:
                    raise
                log.error("%s; using the previous list of %d feeds", exc.one_line(), len(feeds))
            attempted += 1
            sweep = last_sweep is None or began - last_sweep >= SWEEP_EVERY.total_seconds()
            try:
                report = run_round(feeds, settings, embedder, live=live, fetcher=fetcher,
                                   max_age=max_age, stop=stop, publish=publish, sweep=sweep)
            except Stopped:
                log.warning("stopped mid-round: nothing published; the next run redoes this round")
                break
            except (ConfigError, ModelMismatchError):
                raise
            except NewsbotError as exc:
                log.error("round failed, nothing published (retried next round): %s", exc.one_line())
            else:
                if sweep:
                    last_sweep = began
                reports.append(report)
                log.info(report.line())
                if on_round is not None:
                    on_round(report)
            if rounds is not None and attempted >= rounds:
                break
            stop.wait(max(0.0, every.total_seconds() - (time.monotonic() - began)))
    return reports
