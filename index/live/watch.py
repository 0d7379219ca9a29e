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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from index.embedding import Embedder
from index.errors import ConfigError, ModelMismatchError, NewsbotError
from index.live.publisher import Publisher, default_publisher
from index.live.round import Round, Stopped
from index.live.round import RoundReport as RoundReport  # re-exported: read with run_round
from index.live.state import LiveState
from index.settings import IndexSettings
from index.sources.fetch import Fetcher
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


#: How often ``watch`` asks the whole index to drop articles past ``--max-age``, even when the
#: feeds brought nothing (the first round always does).
SWEEP_EVERY = timedelta(days=1)

def run_round(feeds: Sequence[str], settings: IndexSettings, embedder: Embedder, *,
              live: LiveSettings, fetcher: Fetcher, max_age: timedelta | None = None,
              now: datetime | None = None, stop: threading.Event | None = None,
              publish: Publisher = default_publisher, sweep: bool = False) -> RoundReport:
    """One round against the state saved in ``settings.index_dir``; see the module docstring.

    ``sweep`` (with ``max_age``) asks the index itself to drop expired articles even when the
    feeds brought nothing: articles added by ``index add`` are not in the live state.
    Raises :class:`Stopped` when ``stop`` is set mid-round (nothing published or saved).
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    state = LiveState.load(settings.index_dir)
    state.round += 1
    work = Round(state, fetcher, live, stop or threading.Event(), now - max_age if max_age else None)
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
          publish: Publisher = default_publisher,
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
