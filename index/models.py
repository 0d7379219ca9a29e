"""Data models shared by every layer: articles, their sentences and chunks, the manifest."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

_HSPACE = re.compile(r"[^\S\n]+")
_PARA_BREAK = re.compile(r"\n\s*\n\s*")
_LINE_BREAK = re.compile(r" ?\n ?")


def normalize_body(text: str) -> str:
    """Body text folded for identity: NFC, spacing and blank-line runs folded, case kept.

    Two copies of one story that differ only in trailing spaces, CRLF or indentation hash the
    same; a paragraph break still differs from a space, since texts that differ there are
    separately written articles often enough (different headlines, different layout) that
    merging them would lose one. A lone surrogate is U+FFFD, as in the stored ``Article``
    (so the hash of a raw body, taken before the model replaces it, is that of the stored one).
    """
    text = unicodedata.normalize("NFC", replace_lone_surrogates(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HSPACE.sub(" ", text)
    text = _PARA_BREAK.sub("\n\n", text)
    return _LINE_BREAK.sub("\n", text).strip()


def content_hash(text: str) -> str:
    """Stable hex digest of a text's normalized form (used for dedup and embedding reuse)."""
    return hashlib.sha256(normalize_body(text).encode("utf-8")).hexdigest()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(text: str) -> str:
    """``text`` with each unpaired UTF-16 surrogate (JSON ``"\\udc00"``, HTML ``&#xD83D;``)
    replaced by U+FFFD: such a character cannot be written as UTF-8, so one of them would
    otherwise fail the whole build when the text is hashed or stored."""
    return _LONE_SURROGATE.sub("\ufffd", text)


class ArticleListing(BaseModel):
    """An indexed article without its body: what ``newsbot index list`` shows."""

    id: str
    title: str
    date: datetime | None
    source: str | None
    url: str | None


class Article(BaseModel):
    """One news article as indexed. ``body`` is the exact text sentence offsets point into."""

    id: str
    title: str = ""
    body: str
    date: datetime | None = None
    url: str | None = None
    source: str | None = None
    byline: str | None = None
    #: Where it came from (file path, ``file:line``, or URL), for reports; not part of identity.
    origin: str | None = None

    @field_validator("id", "title", "body", "url", "source", "byline", "origin")
    @classmethod
    def _no_lone_surrogates(cls, value: str | None) -> str | None:
        return replace_lone_surrogates(value) if value is not None else None

    @field_validator("date")
    @classmethod
    def _date_is_aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("date must be timezone-aware (or None)")
        return value

    @property
    def body_hash(self) -> str:
        return content_hash(self.body)

    @property
    def revision_hash(self) -> str:
        """Changes whenever anything we store about the article changes."""
        parts = [self.title, normalize_body(self.body), str(self.date), self.url or "",
                 self.source or "", self.byline or ""]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def article_id_for(given_id: str | None, url: str | None, body: str) -> str:
    """The stable id rule: the given id, else the canonical URL, else a content hash."""
    if given_id and given_id.strip():
        return given_id.strip()
    if url and url.strip():
        return url.strip()
    return "sha256:" + content_hash(body)[:16]


class Sentence(BaseModel):
    """A sentence of an article body, by character offsets: ``body[start:end] == text``."""

    id: int = Field(description="Index-wide int64 id, assigned by the store")
    article_id: str
    position: int = Field(description="0-based position of the sentence within the article")
    start: int
    end: int
    text: str


class Chunk(BaseModel):
    """A run of whole sentences embedded together (plus sentence overlap with its neighbours)."""

    id: int = Field(description="Index-wide int64 id, the FAISS id")
    article_id: str
    position: int
    first_sentence: int = Field(description="position of the first sentence (inclusive)")
    last_sentence: int = Field(description="position of the last sentence (inclusive)")
    start: int
    end: int
    text: str
    n_tokens: int


class ModelInfo(BaseModel):
    """What the manifest records about the embedding model; must match to open an index."""

    name: str
    dimension: int
    version: str = ""


class Manifest(BaseModel):
    """The manifest of one published index version."""

    format_version: int = 1
    version: str
    created_at: datetime
    model: ModelInfo
    index_type: str
    articles: int
    chunks: int
    sentences: int
    max_chunk_tokens: int
    sources: list[str] = Field(default_factory=list)
