"""Shared by the bot tests and the load bench: fixture articles, index building, a running bot.

The bot runs for real (python-telegram-bot's Application and HTTPXRequest) against the fake
Bot API server of ``tests/botapi_server.py`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bot.app import build_application, running
from bot.settings import BotSettings
from bot.startup import BotApplication
from fake_bot_api.server import FakeBotApi
from index.embedding import Embedder
from index.models import Article
from index.pipeline import apply_changes
from index.settings import IndexSettings
from retrieval.service import AnswerService

_SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "zu", "pel", "dor", "an", "is", "ul"]


def _names(n: int, seed: int) -> str:
    """``n`` made-up distinct names: sentences long enough that three need three messages."""
    out = []
    for i in range(n):
        k = i * 7 + seed * 131
        first = "".join(_SYLLABLES[(k >> s) % 12] for s in (0, 2, 4)).title()
        last = "".join(_SYLLABLES[(k * 5 + s) % 12] for s in (1, 3, 7)).title()
        out.append(f"{first} {last}")
    return ", ".join(out)


ARTICLES: list[dict[str, Any]] = [
    dict(id="flood-1", title="Floods kill 42 in Riverton", source="Valley Times",
         date="2024-03-04T10:00:00Z", url="https://news.example/riverton-floods",
         body="Heavy floods struck the town of Riverton on Monday after three days of rain. "
              "At least 42 people were killed in the floods, officials said. "
              "Of the dead, 30 were civilians and 12 were rescue workers. "
              "The river rose by four metres overnight. Relief agencies set up shelters in the school gym. "
              "The army sent two helicopters to the valley."),
    dict(id="xss-1", title='Hackers hide <script> tags & "quotes" in AT&T pages', source="Tech <Weekly> & Co",
         date="2024-03-05T09:00:00Z", url="https://news.example/att?a=1&b=2",
         body='Security researchers found that hackers inserted <script>alert("pwned")</script> into AT&T '
              "support pages. The malicious code stole passwords & cookies from visitors. "
              "AT&T said the pages were fixed within hours."),
    dict(id="election-1", title="Mayor re-elected in Lakeside", source="Lakeside Courier",
         date="2024-02-20T08:00:00Z", url="https://news.example/lakeside-mayor",
         body="Mayor Jane Holm won re-election in Lakeside on Sunday with 61 percent of the vote. "
              "Turnout was 48 percent, the election office said. "
              "Holm promised to build a new bridge over the harbour."),
    dict(id="football-1", title="United win the cup final", source="Sport Daily",
         date="2024-01-15T20:00:00Z",
         body="United beat City 3-1 in the cup final at Wembley on Saturday. "
              "Striker Tom Reyes scored twice in the second half. "
              "It was United's first cup win in nine years."),
    dict(id="summit-1", title="Arvenia summit delegates named", source="Congress Wire",
         date="2024-03-01T12:00:00Z", url="https://news.example/arvenia-summit",
         body=f"The Arvenia summit delegates from the north were {_names(260, 1)}. "
              f"The Arvenia summit delegates from the south were {_names(260, 2)}. "
              f"The Arvenia summit delegates from the east were {_names(260, 3)}."),
]

#: Added by the hot-reload test from another process.
NEW_ARTICLE: dict[str, Any] = dict(
    id="volcano-1", title="Volcano erupts near Kestrel Bay", source="Island News",
    date="2024-03-06T07:00:00Z", url="https://news.example/kestrel-volcano",
    body="Mount Orrin erupted near Kestrel Bay on Wednesday morning. "
         "About 3,000 residents of Kestrel Bay were evacuated by ferry. "
         "Ash fell on the harbour for six hours.",
)


def write_jsonl(path: Path, articles: Sequence[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    return path


def build_test_index(index_dir: Path, embedder: Embedder, articles: Sequence[dict[str, Any]] = ARTICLES,
                     model: str = "hashing-test") -> Path:
    """A published index of ``articles`` (built in-process, as ``newsbot index build`` would)."""
    settings = IndexSettings(index_dir=index_dir, model=model)
    apply_changes([Article(**a) for a in articles], (), settings, embedder, replace_all=True,
                  require_articles=True)
    return index_dir


def bot_settings(server: FakeBotApi, **overrides: Any) -> BotSettings:
    """Settings pointing at the fake server, ignoring any ``.env`` of the developer."""
    values: dict[str, Any] = dict(
        bot_token=server.token,
        api_base_url=server.base_url,
        request_timeout_seconds=2.0,
        reload_interval_seconds=0.5,
        max_retries=3,
        heartbeat_file=Path(tempfile.gettempdir()) / f"newsbot-test-{os.getpid()}.heartbeat",
    )
    values.update(overrides)
    return BotSettings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def bot_running(
    service: AnswerService, **overrides: Any
) -> AsyncIterator[tuple[FakeBotApi, BotApplication]]:
    """The fake server and the real bot answering from ``service``, polling it; both stopped on exit."""
    async with FakeBotApi() as server:
        app = build_application(bot_settings(server, **overrides), service)
        async with running(app, poll_timeout=0.5):
            yield server, app


#: How long a running bot may take to answer from a newly published index version.
RELOAD_WITHIN_S = 10.0


async def ask_until_answered_with(server: FakeBotApi, user_id: int, question: str, expected: str,
                                  published: float, pause: float = 0.3) -> None:
    """Ask ``question`` again and again until the reply holds ``expected``; fails when that
    takes more than ``RELOAD_WITHIN_S`` after ``published`` (a ``time.monotonic()``)."""
    while True:
        n = len(server.sent_to(user_id))
        server.message(question, user_id=user_id)
        msgs = await server.wait_sent(user_id, n + 1)
        if expected in msgs[-1]["text"]:
            return
        assert time.monotonic() - published < RELOAD_WITHIN_S, "not reloaded within 10 s"
        await asyncio.sleep(pause)
