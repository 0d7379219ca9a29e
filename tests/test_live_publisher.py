"""``watch``'s publisher is a typed ``Publisher`` returning a ``PublishResult``: what a round
reports comes from that result's fields (no getattr with defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from index.embedding import Embedder, HashingEmbedder
from index.live.publisher import Publisher, PublishResult
from index.live.watch import run_round
from index.models import Article
from index.settings import IndexSettings
from index.sources.fetch import Fetcher
from index.sources.settings import LiveSettings

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
<item><guid>one</guid><title>Harbour reopens</title>
<description>The harbour reopened on Monday after repairs. Ferries run again.</description></item>
</channel></rss>"""


@dataclass
class Result:
    version: str | None = "v9"
    published: bool = True
    added: int = 0
    replaced: int = 0
    duplicates: int = 1
    removed: int = 0
    failures: list[str] = field(default_factory=lambda: ["x: not indexed"])


def test_a_round_reports_what_the_publisher_returned(tmp_path: Path) -> None:
    feed = tmp_path / "local.rss"
    feed.write_text(FEED, encoding="utf-8")
    seen: list[list[str]] = []

    def publish(upserts: Sequence[Article], removals: Sequence[str], settings: IndexSettings,
                embedder: Embedder, *, max_age: timedelta | None, now: datetime) -> PublishResult:
        seen.append([a.title for a in upserts])
        return Result()

    typed: Publisher = publish
    settings = IndexSettings(index_dir=tmp_path / "idx")
    live = LiveSettings(politeness_delay=0)
    with Fetcher(live) as fetcher:
        report = run_round([str(feed)], settings, HashingEmbedder(), live=live, fetcher=fetcher,
                           publish=typed)
    assert seen == [["Harbour reopens"]]
    assert (report.version, report.published) == ("v9", True)
    assert (report.articles_new, report.articles_duplicate) == (0, 1)
    assert report.errors[-1] == "x: not indexed"
