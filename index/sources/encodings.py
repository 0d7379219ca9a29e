"""Decoding fetched bodies: the charset from a BOM, the Content-Type header, an XML declaration
or an HTML ``<meta>`` (WHATWG aliases: latin-1 is cp1252), never failing on bad bytes."""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from email.message import Message

_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.IGNORECASE)
_BOMS: Sequence[tuple[bytes, str]] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Labels browsers read as windows-1252 (a superset that also decodes curly quotes).
_WHATWG_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
                   "us-ascii": "cp1252", "ascii": "cp1252", "iso8859-1": "cp1252"}


#: Text codecs that cannot replace bad bytes (``errors="replace"`` raises): never a page's.
_NO_REPLACE = frozenset({"idna", "punycode"})


def _known_codec(label: str | None) -> str | None:
    """The codec a charset label names, or None when it is unknown or no text encoding
    (``base64``, ``rot13``, ``hex``, ``zlib`` are codecs too, but of bytes, not text)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NO_REPLACE:
        return None
    return info.name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if it names a known codec."""
    if not content_type:
        return None
    msg = Message()
    msg["content-type"] = content_type
    return _known_codec(msg.get_param("charset"))  # type: ignore[arg-type]


def detect_encoding(content: bytes, content_type: str | None) -> str:
    """The codec to decode a body with: BOM, then the header's charset, then ``<meta charset>``
    or the XML declaration (first 4 KB), then UTF-8 (decoded with replacement characters).
    """
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name
    from_header = charset_from_content_type(content_type)
    if from_header:
        return from_header
    head = content[:4096]
    for pattern in (_XML_DECL, _META_CHARSET):
        match = pattern.search(head)
        if match:
            found = _known_codec(match.group(1).decode("ascii", "replace"))
            if found:
                return found
    return "utf-8"


def decode_body(content: bytes, content_type: str | None) -> str:
    """Body bytes as text per :func:`detect_encoding`; undecodable bytes become U+FFFD."""
    try:
        return content.decode(detect_encoding(content, content_type), errors="replace")
    except (LookupError, UnicodeError):  # a codec _known_codec let through but that cannot cope
        return content.decode("utf-8", errors="replace")
