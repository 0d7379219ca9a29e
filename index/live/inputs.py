"""What a source names, and reading a local one safely: shared by ``index.ingest`` and
``index.live`` (which import it, so neither has to import the other for these).

A source is a URL when it starts with ``scheme://`` (any scheme: ``file:///etc/passwd`` is a
URL to refuse, never a path to read); callers decide which schemes they fetch
(:func:`is_web_url`: http and https).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from index.errors import IngestError

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


def _human(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def read_limited(path: Path, origin: str, max_bytes: int) -> bytes:
    """The file's bytes; IngestError if it is missing, unreadable, empty or over the limit.

    The size is checked before reading, so a 50 MB dump is refused without loading it.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise IngestError(origin, "not a regular file")
        size = info.st_size
        if size > max_bytes:
            raise IngestError(
                origin, f"file too large ({_human(size)} > {_human(max_bytes)}, NEWSBOT_MAX_FILE_BYTES)"
            )
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except IsADirectoryError:
        raise IngestError(origin, "is a directory") from None
    except OSError as exc:
        raise IngestError(origin, f"unreadable file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew while we looked
        raise IngestError(origin, f"file too large (> {_human(max_bytes)}, NEWSBOT_MAX_FILE_BYTES)")
    if not data.strip():
        raise IngestError(origin, "empty file")
    return data
