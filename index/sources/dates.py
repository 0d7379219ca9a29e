"""Publication dates from whatever string a source offers; a bad date is None, never a failure.

Articles are filtered and ranked by date, so dates must be timezone-aware: naive ones are
taken as UTC (the usual convention of feeds and dumps that omit the zone).
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, date, datetime

from dateutil import parser as du_parser

_HOUR = 3600
#: Zone abbreviations common in English-language news datelines (dateutil knows only UTC).
_TZINFOS: dict[str, int] = {
    "UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "WET": 0, "BST": _HOUR, "IST": 5 * _HOUR + 1800,
    "CET": _HOUR, "CEST": 2 * _HOUR, "EET": 2 * _HOUR, "EEST": 3 * _HOUR, "MSK": 3 * _HOUR,
    "TRT": 3 * _HOUR, "PKT": 5 * _HOUR, "SGT": 8 * _HOUR, "HKT": 8 * _HOUR, "JST": 9 * _HOUR,
    "KST": 9 * _HOUR, "AEST": 10 * _HOUR, "AEDT": 11 * _HOUR, "NZST": 12 * _HOUR,
    "EST": -5 * _HOUR, "EDT": -4 * _HOUR, "CST": -6 * _HOUR, "CDT": -5 * _HOUR,
    "MST": -7 * _HOUR, "MDT": -6 * _HOUR, "PST": -8 * _HOUR, "PDT": -7 * _HOUR,
    # US zones as newsrooms write them ("10:02 AM ET"), taken as standard time
    "ET": -5 * _HOUR, "CT": -6 * _HOUR, "MT": -7 * _HOUR, "PT": -8 * _HOUR,
}
#: "04.01.2024" is day-first wherever dots are used; slashes stay month-first (US) unless
#: the first number cannot be a month.
_DOTTED = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{2,4}\b")
#: "12.01" as a time of day (Guardian style) after a year: dateutil would read a decimal.
_DOTTED_TIME = re.compile(r"(\d{4}\s+)(\d{1,2})\.(\d{2})\b")
_AT = re.compile(r"\s+at\s+", re.IGNORECASE)
_PREFIX = re.compile(
    r"^(?:published|posted|updated|last updated|last modified|modified|first published|date|dated)"
    r"(?:\s+on)?\s*[:\-–]?\s*",
    re.IGNORECASE,
)


def aware(value: datetime) -> datetime:
    """The datetime itself if it has a zone, else the same wall time in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_date(value: object) -> datetime | None:
    """A timezone-aware datetime from ISO 8601, RFC 2822, epoch seconds or prose dates.

    Accepts "2023-12-01", "2023-12-01T10:00:00Z", "Fri, 01 Dec 2023 10:00:00 +0000",
    "Friday, December 1, 2023", "Published: 14 March 2024, 09:15 GMT". Returns None for
    anything it cannot read with confidence (a wrong date is worse than none).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float):
        try:
            # milliseconds since the epoch; a 400-digit integer overflows the division itself
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = _PREFIX.sub("", value.strip())
    if not text or len(text) > 80 or not re.search(r"\d", text):
        return None
    try:
        return aware(datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text))
    except ValueError:
        pass
    if not re.search(r"(?<!\d)\d{4}(?!\d)", text):
        return None  # no year: dateutil would silently fill in the current one
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cleaned = _DOTTED_TIME.sub(r"\1\2:\3", _AT.sub(" ", text))
            parsed = du_parser.parse(cleaned, tzinfos=_TZINFOS, dayfirst=bool(_DOTTED.match(text)))
    except (ValueError, OverflowError, TypeError):
        return None
    if not 1900 <= parsed.year <= 2200:
        return None
    return aware(parsed)
