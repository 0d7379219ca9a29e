"""The bot on the Milvus backend: the real bot against the fake Bot API, answering from a
Milvus Lite index, and hot-reloading when the alias moves to a newer version.

Milvus Lite serves one process, so the new version is published from this process (a Milvus
server is what lets ``index add`` run elsewhere; docs/scale.md)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fake_bot_api.harness import ARTICLES, NEW_ARTICLE, bot_running

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
            while True:
                n = len(server.sent_to(USER))
                server.message(question, user_id=USER)
                msgs = await server.wait_sent(USER, n + 1)
                if "3,000 residents" in msgs[-1]["text"]:
                    break
                assert time.monotonic() - published < 10, "not reloaded within 10 s"
                await asyncio.sleep(0.3)
    finally:
        answerer.reader.close()
