"""Helpers shared by the index storage / pipeline / CLI tests (no tests here).

Small hand-made articles: each has a distinct topic so that even the hashing test embedder
finds the right one, and a figure ("286", "1.13bn") for BM25 number matching.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from index.embedding import HashingEmbedder
from index.models import Article
from index.settings import IndexSettings

TOPICS = {
    "football": ("Arsenal beat Chelsea in a tense football match at the Emirates stadium.",
                 "The striker scored twice in the second half.",
                 "Fans celebrated the league victory late into the night."),
    "markets": ("Quarterly profits at the media giant jumped 76% to $1.13bn.",
                "Shares rose sharply on the London stock exchange.",
                "Analysts expect revenue growth to continue next year."),
    "weather": ("Heavy snow closed roads across northern Scotland on Monday.",
                "Forecasters warned of more blizzards and freezing temperatures.",
                "Schools shut as drifts reached two metres."),
    "space": ("The rocket carried a telescope into orbit around the Earth.",
              "Astronomers hope to photograph distant galaxies and exoplanets.",
              "The launch was delayed twice by technical faults."),
    "health": ("Doctors reported a sharp rise in flu cases this winter.",
               "Hospitals cancelled routine operations to free beds.",
               "The vaccine programme reached 286 clinics across the country."),
    "music": ("The band released its first album in ten years.",
              "Critics praised the guitar riffs and the singer's voice.",
              "A world tour starts in Tokyo next spring."),
}


def make_article(i: int, topic: str | None = None, *, source: str = "Test Wire",
                 date: datetime | None = None, extra: str = "") -> Article:
    """Article ``art-<i>``: its topic's three sentences plus a line naming it uniquely."""
    names = sorted(TOPICS)
    topic = topic or names[i % len(names)]
    s1, s2, s3 = TOPICS[topic]
    body = f"{s1} {s2}\n\n{s3} This is report number {i} on {topic}.{(' ' + extra) if extra else ''}"
    return Article(
        id=f"art-{i}", title=f"{topic.title()} story {i}", body=body, source=source,
        date=date or datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i),
        url=f"https://news.example/{topic}/{i}",
    )


def make_articles(n: int, start: int = 0, **kw: object) -> list[Article]:
    return [make_article(i, **kw) for i in range(start, start + n)]  # type: ignore[arg-type]


def settings_for(index_dir: Path, **kw: object) -> IndexSettings:
    return IndexSettings(index_dir=index_dir, **kw)  # type: ignore[arg-type]


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting every text it encodes (to prove reuse)."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.encoded = 0

    def encode(self, texts: Sequence[str], batch_size: int = 64):  # type: ignore[no-untyped-def]
        self.encoded += len(texts)
        return super().encode(texts, batch_size)

    def encode_late(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],  # type: ignore[no-untyped-def]
                    batch_size: int = 64):
        self.encoded += len(texts)  # one model pass per text, whatever its spans
        return super().encode_late(texts, spans, batch_size)


def write_jsonl(path: Path, articles: Sequence[Article], bad_lines: Sequence[int] = ()) -> Path:
    """Articles as JSONL; 1-based ``bad_lines`` are replaced by broken JSON."""
    lines = []
    for a in articles:
        lines.append(json.dumps({"id": a.id, "title": a.title, "body": a.body, "source": a.source,
                                 "date": a.date.isoformat() if a.date else None, "url": a.url}))
    for ln in sorted(bad_lines):
        lines.insert(ln - 1, '{"id": "broken", "body": ')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def synthetic_corpus(n: int, seed: int = 7, sentences: int = 25) -> list[Article]:
    """Many longer articles of random words (for crash and throughput tests)."""
    rng = random.Random(seed)
    words = [w for t in TOPICS.values() for s in t for w in s.rstrip(".").split()]
    out = []
    for i in range(n):
        sents = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 20))).capitalize() + "."
                 for _ in range(sentences)]
        out.append(Article(id=f"syn-{i}", title=f"Synthetic {i}", body=" ".join(sents) + f" Item {i}.",
                           source="Synthetic"))
    return out
