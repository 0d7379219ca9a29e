"""Per-user sliding-window rate limit (pure: the clock is injected, no I/O)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """Whether a question may go ahead; when not, how long until it may."""

    allowed: bool
    retry_after: float = 0.0
    #: True for the first refusal of a streak, so the bot says "slow down" once, not per message.
    first_refusal: bool = False


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window`` seconds per key.

    A sliding log (timestamps per key) rather than a fixed bucket: a user cannot double the
    rate by straddling a window boundary. Memory is bounded by ``max_keys`` (least recently
    seen users are forgotten, which only ever makes the limit more lenient).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._events: OrderedDict[int, deque[float]] = OrderedDict()
        self._warned: set[int] = set()

    def check(self, key: int) -> Decision:
        """Record an event for ``key`` if allowed; refusals are not recorded."""
        if self.limit <= 0:
            return Decision(True)
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            events = deque()
            self._events[key] = events
            if len(self._events) > self._max_keys:
                old, _ = self._events.popitem(last=False)
                self._warned.discard(old)
        else:
            self._events.move_to_end(key)
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) < self.limit:
            events.append(now)
            self._warned.discard(key)
            return Decision(True)
        first = key not in self._warned
        self._warned.add(key)
        return Decision(False, retry_after=max(0.0, self.window - (now - events[0])), first_refusal=first)
