"""Counters for /stats: questions served, unanswered share, latency percentiles since start."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class StatsSnapshot:
    started_at: float
    questions: int
    unanswered: int
    refused: int
    rate_limited: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def unanswered_share(self) -> float:
        return self.unanswered / self.questions if self.questions else 0.0


class BotStats:
    """Thread-safe counters. Latencies keep the last ``window`` samples (bounded memory)."""

    def __init__(self, window: int = 10_000) -> None:
        self._lock = threading.Lock()
        self.started_at = time.time()
        self.questions = 0
        self.unanswered = 0
        self.refused = 0
        self.rate_limited = 0
        self.errors = 0
        self._latencies: deque[float] = deque(maxlen=window)

    def record_answer(self, answered: bool, seconds: float) -> None:
        with self._lock:
            self.questions += 1
            if not answered:
                self.unanswered += 1
            self._latencies.append(seconds)

    def record_refused(self) -> None:
        with self._lock:
            self.refused += 1

    def record_rate_limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def record_error(self) -> None:
        with self._lock:
            self.errors += 1

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            lat = list(self._latencies)
            return StatsSnapshot(
                started_at=self.started_at,
                questions=self.questions,
                unanswered=self.unanswered,
                refused=self.refused,
                rate_limited=self.rate_limited,
                errors=self.errors,
                p50_ms=percentile(lat, 50) * 1000,
                p95_ms=percentile(lat, 95) * 1000,
                p99_ms=percentile(lat, 99) * 1000,
            )
