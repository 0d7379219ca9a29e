"""Finding input files and reading them safely: size limit before reading, binary and
encoding checks, one IngestError per bad file (or JSONL line), never an exception.

This is the I/O edge of ingestion; the parsers it calls are pure functions of text.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from index.errors import IngestError, IngestNote
from index.models import Article
from index.sources.html import parse_html
from index.sources.plaintext import parse_plaintext
from index.sources.records import iter_json_document, iter_jsonl_text, parse_jsonl_line

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
JSON_SUFFIXES = frozenset({".json"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
#: Handled by :mod:`index.sources.pages` (see ``index.sources.remote.iter_remote``).
FEED_SUFFIXES = frozenset({".rss", ".atom", ".xml"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES | FEED_SUFFIXES


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


def suffix_of(path: Path) -> str:
    return path.suffix.lower()


def walk_folder(folder: Path) -> Iterator[Path]:
    """Supported files under ``folder``, recursively, sorted, hidden files and folders skipped.

    Sorted so two builds of the same folder see articles in the same order (same ids,
    same report). :func:`unsupported_in_folder` names the files this leaves out.
    """
    for path in _visible_files(folder):
        if suffix_of(path) in SUPPORTED_SUFFIXES:
            yield path


def unsupported_in_folder(folder: Path) -> Iterator[IngestNote]:
    """One note per visible file under ``folder`` that is not an article format."""
    for path in _visible_files(folder):
        if suffix_of(path) not in SUPPORTED_SUFFIXES:
            kind = path.suffix or "(no extension)"
            yield IngestNote(str(path), f"skipped: {kind!r} is not an article format ({_FORMATS})")


#: The formats a folder is read for, as the notes about other files list them.
_FORMATS = ", ".join(sorted(SUPPORTED_SUFFIXES))


def _visible_files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def decode_text(data: bytes, origin: str, line: int | None = None, legacy_fallback: bool = False) -> str:
    """UTF-8 text (BOM allowed; UTF-16 with a BOM too); IngestError naming the bad byte.

    JSON is UTF-8 by definition, so its undecodable bytes are reported. A plain-text scrape
    (``legacy_fallback``) that is not UTF-8 is read as Windows-1252, a superset of Latin-1
    and what old pages and feeds use (feeds get the same fallback); a byte that has no
    character there still fails.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(origin, f"invalid UTF-16 at byte {exc.start}", line) from None
    if b"\x00" in data:
        raise IngestError(origin, "binary file (NUL bytes), not text", line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if legacy_fallback:
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                pass
        raise IngestError(origin, f"invalid UTF-8 at byte {exc.start}", line) from None


def iter_jsonl(data: bytes, origin: str) -> Iterator[Article | IngestError]:
    """One article per line; a bad line (JSON, encoding, fields) is reported and skipped."""
    try:
        text = decode_text(data, origin)
    except IngestError:
        yield from _iter_jsonl_bytes(data, origin)
        return
    yield from iter_jsonl_text(text, origin)


def _iter_jsonl_bytes(data: bytes, origin: str) -> Iterator[Article | IngestError]:
    """Slow path for a file with undecodable bytes: decode line by line to name the bad lines."""
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        if b"\x00" in raw:
            yield IngestError(origin, "binary data (NUL bytes)", number)
            continue
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield IngestError(origin, f"invalid UTF-8 at byte {start + exc.start}", number)
            continue
        try:
            yield parse_jsonl_line(line, origin, number)
        except IngestError as err:
            yield err


def _is_html(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


def iter_file(path: Path, max_bytes: int, origin: str | None = None) -> Iterator[Article | IngestError]:
    """Articles of one local file of a supported (non-feed) type."""
    origin = origin or str(path)
    suffix = suffix_of(path)
    try:
        data = read_limited(path, origin, max_bytes)
        if suffix in HTML_SUFFIXES:
            yield parse_html(data, origin)
        elif suffix in JSONL_SUFFIXES:
            yield from iter_jsonl(data, origin)
        elif suffix in JSON_SUFFIXES:
            yield from iter_json_document(decode_text(data, origin), origin)
        elif suffix in TEXT_SUFFIXES and _is_html(data):
            yield parse_html(data, origin)  # a page saved with the wrong extension
        elif suffix in TEXT_SUFFIXES:
            yield parse_plaintext(decode_text(data, origin, legacy_fallback=True), origin)
        else:
            yield IngestError(origin, "unsupported file type")
    except IngestError as err:
        yield err
