"""Recency in answers, end to end: two articles arrive through a feed and disagree (a death toll
that rose); the answer cites the newer one, and "latest" / "yesterday" prefer or filter recent
articles relative to the current date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from feed_server import FeedServer

from index.embedding import HashingEmbedder
from index.live.watch import watch
from index.settings import IndexSettings
from index.sources.settings import LiveSettings

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
OLDER = NOW - timedelta(days=6)
NEWER = NOW - timedelta(days=1)

OLD_STORY = [
    "The death toll from the earthquake in the coastal province rose to 12 on Monday, officials said.",
    "Rescue teams worked through the night to reach villages cut off by landslides.",
    "The regional governor asked for tents, blankets and water purification tablets.",
]
NEW_STORY = [
    "The death toll from the earthquake in the coastal province rose to 41, officials said on Saturday.",
    "Engineers inspected schools and the main hospital for cracks before they reopen.",
    "Aid convoys reached the most remote villages after roads were cleared.",
]
OTHER = [
    "The city orchestra announced a summer season of open-air concerts in the old harbour.",
    "Tickets for the first concert sold out within an hour of going on sale.",
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("recency")
    with FeedServer() as srv:
        items = []
        for n, (title, paras, date) in enumerate([
            ("Quake death toll rises to 12", OLD_STORY, OLDER),
            ("Quake death toll rises to 41", NEW_STORY, NEWER),
            ("Orchestra plans summer concerts", OTHER, OLDER - timedelta(days=2)),
        ]):
            url = srv.page(f"/news/{n}", title, paras, date=date.isoformat())
            items.append({"title": title, "link": url, "pubDate": format_datetime(date)})
        feed = srv.feed("/feed.xml", "Coast News", items)
        feeds = tmp / "feeds.txt"
        feeds.write_text(feed + "\n")
        settings = IndexSettings(index_dir=tmp / "idx", allow_private_urls=True)
        (report,) = watch(feeds, settings, HashingEmbedder(), timedelta(0), None, 1,
                          live=LiveSettings(politeness_delay=0))
        assert report.articles_new == 3
        yield tmp / "idx"


def answer_ids(index_dir: Path, question: str) -> list[str]:
    from retrieval.answerer import Answerer

    answerer = Answerer(index_dir, embedder=HashingEmbedder())
    answer = answerer.ask(question, now=NOW)
    assert answer.answered, answer
    return [s.article_id for s in answer.sentences]


def test_newer_article_wins_when_two_disagree(index_dir: Path) -> None:
    ids = answer_ids(index_dir, "What is the death toll from the earthquake in the coastal province?")
    assert ids and ids[0].endswith("/news/1")


def test_latest_prefers_the_newest_article(index_dir: Path) -> None:
    ids = answer_ids(index_dir, "What is the latest death toll from the earthquake?")
    assert ids and ids[0].endswith("/news/1")


def test_yesterday_filters_to_yesterdays_articles(index_dir: Path) -> None:
    ids = answer_ids(index_dir, "What did officials say yesterday about the earthquake death toll?")
    assert ids and all(i.endswith("/news/1") for i in ids)
