"""What a source names: a URL (``is_url``, ``is_web_url``) or a path.

A source is a URL when it starts with ``scheme://`` (any scheme: ``file:///etc/passwd`` is a
URL to refuse, never a path to read); callers decide which schemes they fetch
(:func:`is_web_url`: http and https).
"""

from __future__ import annotations

import re

#: ``scheme://`` at the start (RFC 3986 scheme characters), as written.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def url_scheme(source: str) -> str | None:
    """The scheme of a URL source as written (``"HTTPS"``, ``"file"``), None for a path."""
    m = _SCHEME.match(source)
    return m.group(1) if m else None


def is_url(source: str) -> bool:
    """Whether ``source`` names a URL (any scheme) rather than a local path."""
    return url_scheme(source) is not None


def is_web_url(source: str) -> bool:
    """Whether ``source`` is an http or https URL (the only ones fetched)."""
    scheme = url_scheme(source)
    return scheme is not None and scheme.lower() in ("http", "https")
