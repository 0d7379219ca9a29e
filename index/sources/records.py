"""JSON objects to Articles: the field names real dumps and APIs use, mapped onto one model.

Pure functions: a parsed JSON value and an origin string in, an Article out (or an
IngestError naming the missing field). File reading and line numbering live in
``index.sources.files``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from index.errors import IngestError
from index.models import Article, article_id_for
from index.sources.dates import parse_date
from index.sources.html import looks_like_markup, markup_to_text, unescape_entities

ID_FIELDS = ("id", "guid", "uuid")
TITLE_FIELDS = ("title", "headline", "name")
BODY_FIELDS = ("body", "text", "content", "article", "article_body", "articleBody", "full_text",
               "context", "passage", "story")
#: Used only when no body field is present: a feed dump may carry nothing but the summary.
SUMMARY_FIELDS = ("description", "summary")
DATE_FIELDS = ("date", "published", "published_at", "publishedAt", "pubDate", "datetime",
               "date_published", "datePublished", "created_at")
URL_FIELDS = ("url", "link", "canonical_url", "canonicalUrl")
SOURCE_FIELDS = ("source", "site", "publisher", "site_name", "source_name")
AUTHOR_FIELDS = ("author", "byline", "authors", "creator")
#: Keys under which a JSON document wraps its list of articles ({"articles": [...]}).
CONTAINER_FIELDS = ("articles", "items", "data", "results", "records")

_MISSING_BODY = "no body/text/content field"


def _first(record: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = record.get(name)
        if value not in (None, "", [], {}):
            return value
    return None


def _body_field(record: Mapping[str, Any]) -> Any:
    """The longest of the body-like fields (SQuAD's "article" is a slug, "context" the text)."""
    candidates = [record[n] for n in BODY_FIELDS if record.get(n) not in (None, "", [], {})]
    if not candidates:
        return _first(record, SUMMARY_FIELDS)
    if len(candidates) == 1:
        return candidates[0]
    return max(candidates, key=lambda v: len(_text_of(v) or ""))


def _name_of(value: Any) -> str | None:
    """A display string from a string, a {"name": ...} object, or a list of either."""
    if value is None:
        return None
    if isinstance(value, str):
        return " ".join(value.split()) or None
    if isinstance(value, Mapping):
        return _name_of(value.get("name") or value.get("title"))
    if isinstance(value, list):
        names = [n for n in (_name_of(v) for v in value) if n]
        return ", ".join(names) or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _text_of(value: Any) -> str | None:
    """Body text from a string or a list of paragraph strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(v.strip() for v in value if v.strip())
    return None


def clean_body(text: str) -> str:
    """Body text as it will be quoted: HTML markup turned into paragraphs, character
    references decoded, line endings unified; otherwise kept as given."""
    if looks_like_markup(text):
        text = markup_to_text(text)
    text = unescape_entities(text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()


def _url_of(value: Any) -> str | None:
    """A link only when it is an http(s) URL string: a number or a bare word in ``url`` would
    otherwise become the article's id and a broken citation link."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    return url if url.lower().startswith(("http://", "https://")) and len(url) > len("https://") else None


def record_to_article(record: Any, origin: str, line: int | None = None) -> Article:
    """One JSON object as an Article; raises IngestError naming the origin (and line)."""
    if not isinstance(record, Mapping):
        raise IngestError(origin, f"expected a JSON object, got {type(record).__name__}", line)
    raw_body = _body_field(record)
    if raw_body is None:
        raise IngestError(origin, _MISSING_BODY, line)
    body = _text_of(raw_body)
    if body is None:
        raise IngestError(origin, f"body field is not text ({type(raw_body).__name__})", line)
    body = clean_body(body)
    if not body:
        raise IngestError(origin, "empty body", line)
    url = _url_of(_first(record, URL_FIELDS))
    given = _first(record, ID_FIELDS)
    given_id = str(given) if isinstance(given, str | int) and not isinstance(given, bool) else None
    return Article(
        id=article_id_for(given_id, url, body),
        title=unescape_entities(_name_of(_first(record, TITLE_FIELDS)) or ""),
        body=body,
        date=parse_date(_first(record, DATE_FIELDS)),
        url=url,
        source=_name_of(_first(record, SOURCE_FIELDS)),
        byline=_name_of(_first(record, AUTHOR_FIELDS)),
        origin=f"{origin}:{line}" if line is not None else origin,
    )


NESTED_TOO_DEEPLY = "invalid JSON (nested too deeply)"


def _value_error(exc: ValueError) -> str:
    """The reason for a ValueError from ``json.loads`` that is not a syntax error: Python
    refuses to read an integer of more than 4,300 digits (``sys.set_int_max_str_digits``)."""
    if "digits" in str(exc):
        return "invalid JSON (a number with too many digits)"
    return f"invalid JSON ({' '.join(str(exc).split())})"


def parse_jsonl_line(text: str, origin: str, line: int) -> Article:
    """One JSONL line; a malformed line raises IngestError naming the line and the JSON error."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(origin, f"invalid JSON ({exc.msg} at column {exc.colno})", line) from None
    except RecursionError:  # json's parser recurses per level: ~100,000 "[" exhaust the stack
        raise IngestError(origin, NESTED_TOO_DEEPLY, line) from None
    except ValueError as exc:  # not a JSONDecodeError: an integer over Python's 4,300-digit limit
        raise IngestError(origin, _value_error(exc), line) from None
    return record_to_article(record, origin, line)


def iter_jsonl_text(text: str, origin: str) -> Iterator[Article | IngestError]:
    """One article per line; a bad line is reported (by number) and the rest still read."""
    # split on "\n" only: U+2028 and friends may appear unescaped inside JSON strings
    blank = True
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            blank = False
            try:
                yield parse_jsonl_line(raw, origin, number)
            except IngestError as err:
                yield err
    if blank:  # only a BOM, or whitespace the byte check does not know (U+2028, UTF-16 spaces)
        yield IngestError(origin, "empty file")


def iter_json_document(text: str, origin: str) -> Iterator[Article | IngestError]:
    """A .json file: one article object, a list of them, or {"articles": [...]}.

    Items of a list are named ``path[3]`` (from 1) in origins and reasons. A file of one
    object per line (JSON Lines with a .json name) is read as JSON Lines.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and exc.lineno > 1:
            yield from iter_jsonl_text(text, origin)  # JSON Lines saved as .json
        else:
            yield IngestError(origin, f"invalid JSON ({exc.msg})", exc.lineno)
        return
    except RecursionError:
        yield IngestError(origin, NESTED_TOO_DEEPLY)
        return
    except ValueError as exc:
        yield IngestError(origin, _value_error(exc))
        return
    if isinstance(doc, Mapping) and _body_field(doc) is None:
        inner = _first(doc, CONTAINER_FIELDS)
        if isinstance(inner, list):
            doc = inner
    if not isinstance(doc, list):
        try:
            yield record_to_article(doc, origin)
        except IngestError as err:
            yield err
        return
    if not doc:
        yield IngestError(origin, "no articles (empty list)")
    for i, item in enumerate(doc, start=1):
        try:
            yield record_to_article(item, f"{origin}[{i}]")
        except IngestError as err:
            yield err
