"""Build progress on stderr: a bar for a person at a terminal, a plain line every
``LOG_EVERY_SECONDS`` otherwise (``docker compose logs`` of a long build shows life).

Both count articles read (of ``total``, when the inputs could be counted up front) and texts
embedded, the model's real work. The formatting is pure (``progress_line``); the clock and
the stream are passed in so tests drive them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

#: Seconds between two log lines when stderr is not a terminal.
LOG_EVERY_SECONDS = 10.0


@dataclass
class ProgressCounts:
    """What a build has done so far."""

    articles: int = 0
    texts: int = 0
    total: int | None = None
    elapsed: float = 0.0


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def eta_seconds(counts: ProgressCounts) -> float | None:
    """Time left at the pace so far; None when the total is unknown or nothing is done yet."""
    if counts.total is None or counts.articles <= 0 or counts.elapsed <= 0:
        return None
    left = max(0, counts.total - counts.articles)
    return left * counts.elapsed / counts.articles


def progress_line(counts: ProgressCounts) -> str:
    """One log line: articles (of the total), texts embedded, texts/s, elapsed and ETA."""
    of = f"/{counts.total:,}" if counts.total is not None else ""
    rate = counts.texts / counts.elapsed if counts.elapsed > 0 else 0.0
    eta = eta_seconds(counts)
    tail = f", ETA {format_duration(eta)}" if eta is not None else ""
    return (
        f"indexing: {counts.articles:,}{of} articles, {counts.texts:,} texts embedded "
        f"({rate:.0f} texts/s), {format_duration(counts.elapsed)} elapsed{tail}"
    )


class Progress(Protocol):
    """What the pipeline reports to."""

    def advance(self, articles: int, texts: int) -> None:
        """``articles`` more read, ``texts`` more embedded."""
        ...

    def close(self) -> None: ...


class LogProgress:
    """A ``progress_line`` at most every ``every`` seconds."""

    def __init__(
        self,
        total: int | None,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        every: float = LOG_EVERY_SECONDS,
    ) -> None:
        self.counts = ProgressCounts(total=total)
        self._stream, self._clock, self._every = stream, clock, every
        self._start = self._last = clock()

    def advance(self, articles: int, texts: int) -> None:
        self.counts.articles += articles
        self.counts.texts += texts
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            self.counts.elapsed = now - self._start
            print(progress_line(self.counts), file=self._stream, flush=True)

    def close(self) -> None:
        """Nothing to undo: the build's summary line follows."""


class TerminalProgress:
    """A tqdm bar (articles, of the total, with tqdm's own ETA) and texts/s beside it."""

    def __init__(self, total: int | None, stream: TextIO) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="art", desc="indexing", file=stream, dynamic_ncols=True)
        self.texts = 0

    def advance(self, articles: int, texts: int) -> None:
        self.texts += texts
        # tqdm's own clock, so the rate and the elapsed time agree with the bar's.
        elapsed = self._bar.format_dict.get("elapsed") or 0.0
        rate = self.texts / elapsed if elapsed > 0 else 0.0
        self._bar.set_postfix_str(f"{self.texts:,} texts, {rate:.0f} texts/s", refresh=False)
        self._bar.update(articles)

    def close(self) -> None:
        self._bar.close()


def open_progress(enabled: bool, total: int | None, stream: TextIO | None = None) -> Progress | None:
    """A bar at a terminal, log lines elsewhere, nothing when not ``enabled``."""
    if not enabled:
        return None
    out = stream if stream is not None else sys.stderr
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        return TerminalProgress(total, out)
    return LogProgress(total, out)
