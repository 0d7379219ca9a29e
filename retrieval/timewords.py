"""Time words in a question ("today", "last week", "latest") as a date range, and merging it
with the explicit ``--since/--until/--source`` filters. Pure (strings and ``now``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from retrieval.models import Filters


@dataclass
class TimeWords:
    """A date range named by words in a question, and whether the newest article is wanted."""

    since: date | None = None
    until: date | None = None
    latest: bool = False
    matched: str = ""


_TIME_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\btoday\b|\bthis morning\b|\btonight\b", re.I), "today"),
    (re.compile(r"\byesterday\b|\blast night\b", re.I), "yesterday"),
    (re.compile(r"\bthis week\b", re.I), "this_week"),
    (re.compile(r"\blast week\b|\bpast week\b", re.I), "last_week"),
    (re.compile(r"\bthis month\b", re.I), "this_month"),
    (re.compile(r"\blast month\b|\bpast month\b", re.I), "last_month"),
    (re.compile(r"\bthis year\b", re.I), "this_year"),
    (re.compile(r"\b(latest|most recent|newest|currently|right now|so far)\b", re.I), "latest"),
]


def parse_time_words(question: str, now: datetime | None = None) -> TimeWords:
    """Map "today", "yesterday", "this week", "last month", "latest"… to a date range relative
    to ``now`` (UTC). Weeks start on Monday. "latest" asks for recency, not a range."""
    now = now or datetime.now(UTC)
    today = now.date()
    for pattern, key in _TIME_PATTERNS:
        m = pattern.search(question)
        if not m:
            continue
        if key == "today":
            return TimeWords(today, today, matched=m.group(0))
        if key == "yesterday":
            y = today - timedelta(days=1)
            return TimeWords(y, y, matched=m.group(0))
        if key == "this_week":
            return TimeWords(today - timedelta(days=today.weekday()), today, matched=m.group(0))
        if key == "last_week":
            start = today - timedelta(days=today.weekday() + 7)
            return TimeWords(start, start + timedelta(days=6), matched=m.group(0))
        if key == "this_month":
            return TimeWords(today.replace(day=1), today, matched=m.group(0))
        if key == "last_month":
            end = today.replace(day=1) - timedelta(days=1)
            return TimeWords(end.replace(day=1), end, matched=m.group(0))
        if key == "this_year":
            return TimeWords(today.replace(month=1, day=1), today, matched=m.group(0))
        return TimeWords(latest=True, matched=m.group(0))
    return TimeWords()


def merge_filters(explicit: Filters | None, words: TimeWords) -> Filters:
    """Explicit ``--since/--until/--source`` win; time words fill in what was not given."""
    f = explicit.model_copy() if explicit else Filters()
    if f.since is None and f.until is None and (words.since or words.until):
        f.since, f.until = words.since, words.until
    return f
