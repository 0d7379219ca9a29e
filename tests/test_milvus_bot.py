"""The bot on the Milvus backend: the real bot against the fake Bot API, answering from a
Milvus Lite index, and hot-reloading when a newer version is published.

Milvus Lite serves one process, so the new version is published from this process (a Milvus
server is what lets ``index add`` run elsewhere; docs/scale.md)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fake_bot_api.harness import ARTICLES, NEW_ARTICLE, ask_until_answered_with, bot_running

from index.embedding import HashingEmbedder
from index.models import Article
from index.pipeline import apply_changes
from index.settings import IndexSettings
from retrieval import Answerer, NewsService
from retrieval.settings import RetrievalSettings

USER = 1001


async def test_bot_answers_from_milvus_and_hot_reloads(
        tmp_path: Path, hashing_settings: RetrievalSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_BACKEND", "milvus")
    settings = IndexSettings(index_dir=tmp_path / "index", model="hashing-test", backend="milvus")
    apply_changes([Article(**a) for a in ARTICLES], (), settings, HashingEmbedder(), replace_all=True)
    answerer = Answerer(settings.index_dir, settings=hashing_settings, embedder=HashingEmbedder())
    service = NewsService(answerer)
    try:
        async with bot_running(service, reload_interval_seconds=0.5, rate_limit_per_user=0) as (server, _):
            server.message("How many people were killed in the Riverton floods?", user_id=USER)
            [reply] = await server.wait_sent(USER)
            assert "At least 42 people were killed in the floods" in reply["html"]

            question = "How many residents of Kestrel Bay were evacuated?"
            await asyncio.to_thread(apply_changes, [Article(**NEW_ARTICLE)], (), settings, HashingEmbedder())
            published = time.monotonic()
            await ask_until_answered_with(server, USER, question, "3,000 residents", published)
    finally:
        answerer.reader.close()
