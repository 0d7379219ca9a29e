"""Unit tests of the bot's pure parts: rendering, settings, rate limit, history, stats, retries."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_bot_api.server import BotApiError, parse_telegram_html
from telegram.error import TimedOut

from bot import render
from bot.app import RedactToken
from bot.history import ChatHistory
from bot.ratelimit import SlidingWindowLimiter
from bot.settings import BotSettings, load_bot_settings
from bot.stats import BotStats, percentile
from bot.transport import RetryingRequest
from index.errors import ConfigError
from retrieval.models import Answer, AnswerSentence, Passage, PassageSentence, Suggestion
from retrieval.service import ArticleSummary, IndexSummary, SourceSummary

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
DATE = datetime(2024, 3, 4, tzinfo=UTC)


def sent(text: str, article: str = "a1", sid: int = 1, title: str = "Title", url: str | None = "https://x.test/a",
         source: str | None = "Src") -> AnswerSentence:
    return AnswerSentence(text=text, article_id=article, title=title, source=source, date=DATE, url=url,
                          score=0.9, sentence_id=sid, start=0, end=len(text), position=0)


def answer(sentences: list[AnswerSentence], alternatives: list[AnswerSentence] | None = None) -> Answer:
    return Answer(question="q", answered=True, confidence=0.9, sentences=sentences,
                  alternatives=alternatives or [])


def plain(html: str) -> str:
    """What Telegram would display; raises like Telegram on bad HTML."""
    return parse_telegram_html(html)


# --------------------------------------------------------------------------- render


def test_answer_markers_and_sources_block() -> None:
    msgs = render.render_answer(answer([
        sent("First fact.", "a1", 1, "One"), sent("Second fact.", "a2", 2, "Two", url=None, source=None),
        sent("Third fact.", "a1", 3, "One"),
    ]))
    assert len(msgs) == 1
    assert msgs[0].splitlines()[:3] == ["First fact. [1]", "Second fact. [2]", "Third fact. [1]"]
    assert '[1] <a href="https://x.test/a">One</a> — Src, 4 Mar 2024' in msgs[0]
    assert "[2] Two — 4 Mar 2024" in msgs[0]  # no URL: no link; no source: just the date
    plain(msgs[0])


def test_everything_from_articles_is_escaped() -> None:
    evil = sent('He wrote <script>alert("x")</script> & left', title='<b>Bold</b> & "T"',
                url='https://x.test/?a=1&b="2"', source="A<B>")
    html = render.render_answer(answer([evil]))[0]
    assert "<script>" not in html and "<b>Bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; left" in html
    assert 'href="https://x.test/?a=1&amp;b=&quot;2&quot;"' in html
    text = plain(html)
    assert 'He wrote <script>alert("x")</script> & left [1]' in text
    assert '<b>Bold</b> & "T" — A<B>, 4 Mar 2024' in text


def test_only_http_links() -> None:
    html = render.render_answer(answer([sent("x.", url="javascript:alert(1)")]))[0]
    assert "href" not in html
    assert render.safe_url("ftp://x") is None and render.safe_url("https://ok.test/p") == "https://ok.test/p"


def test_split_at_sentence_boundaries_never_over_limit() -> None:
    sentences = [sent(f"word{i} " * 120 + "end.", sid=i) for i in range(12)]  # ~1,000 chars each
    msgs = render.render_answer(answer(sentences))
    assert len(msgs) >= 3
    for m in msgs:
        assert render.tg_len(m) <= 4096
        plain(m)
    lines = [line for m in msgs for line in m.split("\n")]
    assert [ln for ln in lines if ln.endswith("[1]")] == [s.text + " [1]" for s in sentences]
    for m in msgs[:-1]:
        assert m.endswith("[1]")  # every cut falls after a whole sentence


def test_split_counts_utf16_and_escapes() -> None:
    # Emoji take 2 UTF-16 units; '&' becomes 5 characters of HTML: both count.
    s = [sent("😀&" * 500 + ".", sid=i) for i in range(4)]
    msgs = render.render_answer(answer(s))
    assert all(render.tg_len(m) <= 4096 for m in msgs)
    assert len(msgs) == 4


def test_sentence_longer_than_a_message_is_cut_at_spaces() -> None:
    long = " ".join(f"name{i}" for i in range(1500)) + "."
    msgs = render.render_answer(answer([sent(long)]))
    assert len(msgs) >= 3
    for m in msgs:
        assert render.tg_len(m) <= 4096
        plain(m)
    body = [line for m in msgs for line in m.split("\n") if line.startswith("name")]
    assert " ".join(body).removesuffix(" [1]") == long


def test_more_keeps_earlier_messages_and_message_count() -> None:
    base = [sent("Base sentence.", sid=1)]
    alts = [sent(f"Alternative {i}.", f"b{i}", 10 + i, f"Alt {i}") for i in range(5)]
    a = answer(base, alts)
    msgs, shown = render.render_more(a, 3)
    assert shown == 3 and len(msgs) == 1
    assert msgs[0].startswith("Base sentence. [1]\nAlternative 0. [2]")
    assert "[4] <a" in msgs[0]
    # alternatives that would need another message are not added
    big = [sent("x " * 1500 + "y.", f"c{i}", 20 + i) for i in range(3)]
    msgs2, shown2 = render.render_more(answer(base, big), 3)
    assert len(msgs2) == 1 and shown2 == 1


def test_unknown_lists_suggestions() -> None:
    a = Answer(question="q", answered=False, confidence=0.1, suggestions=[
        Suggestion(article_id="a", title="Close <one>", source="S", date=DATE, url="https://x.test",
                   score=0.3)],
        notes=["nothing dated 'today'; searched all articles"])
    [msg] = render.render_answer(a)
    assert msg.startswith("I don't know")
    assert '• <a href="https://x.test">Close &lt;one&gt;</a> — S, 4 Mar 2024' in msg
    plain(msg)


def test_passage_bolds_the_cited_sentence_and_fits() -> None:
    p = Passage(article_id="a", title="T & T", source="S", date=DATE, url="https://x.test", sentences=[
        PassageSentence(sentence_id=i, position=i, start=0, end=1, text=f"Sentence {i} <x>.", cited=i == 2)
        for i in range(5)])
    html = render.render_passage(p)
    assert "<b>Sentence 2 &lt;x&gt;.</b>" in html and "<b>T &amp; T</b>" in html
    assert '<a href="https://x.test">Read the full article</a>' in html
    plain(html)
    huge = Passage(article_id="a", title="T", sentences=[
        PassageSentence(sentence_id=i, position=i, start=0, end=1, text="w " * 1500, cited=i == 1)
        for i in range(4)])
    html = render.render_passage(huge)
    assert render.tg_len(html) <= 4096
    plain(html)


LONG_TITLE = "Breaking: " + " ".join(f"word{i}" for i in range(900))  # ~6,000 characters
LONG_URL = "https://news.example/story?" + "&".join(f"k{i}=v{i}" for i in range(800))  # ~7,000


def assert_deliverable(msgs: list[str]) -> list[str]:
    """Every message within Telegram's limit and parsed like Telegram would (tags balanced,
    entities whole); returns what the user reads."""
    assert msgs
    for m in msgs:
        assert render.tg_len(m) <= render.MAX_MESSAGE, render.tg_len(m)
    return [plain(m) for m in msgs]


def test_long_title_and_url_are_cut_and_every_message_fits() -> None:
    """The article behind issue #9: a 6,000-character title and a 7,000-character URL."""
    long = sent("The dam held overnight.", "a1", 1, LONG_TITLE, url=LONG_URL, source="S" * 3000)
    short = sent("Water levels fell.", "a2", 2, "Short headline", url="https://x.test/b")
    msgs = render.render_answer(answer([long, short], alternatives=[sent("Roads reopened.", "a3", 3,
                                                                          LONG_TITLE, url=LONG_URL)]))
    [text] = assert_deliverable(msgs)
    line = next(ln for ln in text.splitlines() if ln.startswith("[1] "))
    title = line.removeprefix("[1] ").split(" — ")[0]
    assert title.endswith("…") and LONG_TITLE.startswith(title.removesuffix("…"))
    assert len(title) <= render.MAX_TITLE
    assert "href" not in msgs[0].split("\n")[-2]  # the 7,000-character link is left out
    assert '[2] <a href="https://x.test/b">Short headline</a>' in msgs[0]  # others keep theirs
    assert "The dam held overnight. [1]" in text and "Water levels fell. [2]" in text
    more, shown = render.render_more(answer([long, short], alternatives=[
        sent("Roads reopened.", "a3", 3, LONG_TITLE, url=LONG_URL)]), 3)
    assert shown == 1 and "Roads reopened. [3]" in assert_deliverable(more)[-1]


def test_title_of_entities_and_emoji_is_cut_as_text_not_as_html() -> None:
    # Each '&' is 5 units of HTML and each emoji 2 UTF-16 units: the cut must count both and
    # never land inside "&amp;" or between the halves of a surrogate pair.
    for title in ['&"<>' * 2000, "😀" * 5000, "x" * 10_000]:
        s = sent("Fact.", title=title, url="https://x.test/" + "&" * 1000, source='"' * 500)
        [text] = assert_deliverable(render.render_answer(answer([s])))
        shown = text.splitlines()[-1].removeprefix("[1] ").split(" — ")[0]
        assert shown.endswith("…") and title.startswith(shown.removesuffix("…"))


def test_clip_cuts_plain_text_with_an_ellipsis() -> None:
    assert render.clip("short title", 20) == "short title"
    cut = render.clip("Mayor wins the election in a landslide", 20)
    assert cut == "Mayor wins the…" and render.tg_len(cut) <= 20
    assert render.clip("😀" * 10, 5) == "😀😀…"  # 2 + 2 + 1 units
    assert render.clip("  spaced \n out  ", 50) == "spaced out"


def test_unknown_with_long_suggestion_and_note_is_valid_html() -> None:
    """Issue #9, item 2: the over-long suggestion was cut inside its <a> tag."""
    a = Answer(question="q", answered=False, confidence=0.1, notes=["note & <more> " * 600],
               suggestions=[Suggestion(article_id="a", title=LONG_TITLE, source="S", date=DATE, url=LONG_URL,
                                       score=0.3),
                            Suggestion(article_id="b", title="Close & near", source="T", date=DATE,
                                       url="https://x.test/b", score=0.2)])
    texts = assert_deliverable(render.render_answer(a))
    joined = "\n".join(texts)
    assert joined.startswith("I don't know")
    assert "• Breaking: word0 word1" in joined and "… — S, 4 Mar 2024" in joined
    assert "• Close & near — T, 4 Mar 2024" in joined
    note = next(t for t in joined.splitlines() if t.startswith("note & <more>"))
    assert note.endswith("…")


def test_latest_passage_and_about_fit_whatever_the_metadata() -> None:
    articles = [ArticleSummary(article_id=f"a{i}", title=LONG_TITLE, url=LONG_URL, source="S" * 5000,
                               date=DATE) for i in range(20)]
    texts = assert_deliverable(render.render_latest(articles))
    assert sum(t.count("• Breaking: word0") for t in texts) == 20
    p = Passage(article_id="a", title=LONG_TITLE, source="&" * 5000, date=DATE, url=LONG_URL, sentences=[
        PassageSentence(sentence_id=i, position=i, start=0, end=1, text=f"Sentence {i}.", cited=i == 1)
        for i in range(3)])
    [text] = assert_deliverable([render.render_passage(p)])
    assert "Sentence 1." in text and text.startswith("Breaking: word0") and "…" in text.splitlines()[0]
    sources = [SourceSummary(name="&" * 5000, articles=1) for _ in range(12)]
    about = IndexSummary(articles=3, sentences=9, version="v1", earliest=DATE, latest=DATE,
                         last_update=None, sources=sources)
    [text] = assert_deliverable([render.render_about(about)])
    assert "and 2 more" in text


def test_random_metadata_always_renders_deliverable_messages() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    # A short random piece repeated up to 7,000 characters: long, escape-heavy, astral.
    piece = st.text(alphabet=["a", " ", "&", "<", '"', "😀", "é", "\n"], max_size=6)
    field = st.tuples(piece, st.integers(0, 7000)).map(lambda t: (t[0] * t[1])[:7000])

    @settings(max_examples=30, deadline=None)
    @given(title=field, source=field, path=field, body=field)
    def check(title: str, source: str, path: str, body: str) -> None:
        url = "https://x.test/" + path
        s = [sent(body + ".", f"a{i}", i, title, url=url, source=source) for i in range(3)]
        assert_deliverable(render.render_answer(answer(s[:2], alternatives=s[2:])))
        assert_deliverable(render.render_more(answer(s[:2], alternatives=s[2:]), 3)[0])
        sug = Suggestion(article_id="a", title=title, source=source, date=DATE, url=url, score=0.1)
        assert_deliverable(render.render_answer(Answer(question="q", answered=False, confidence=0.0,
                                                       suggestions=[sug] * 5, notes=[body])))
        psg = [PassageSentence(sentence_id=1, position=0, start=0, end=1, text=body, cited=True)]
        assert_deliverable([render.render_passage(Passage(article_id="a", title=title, source=source,
                                                          url=url, sentences=psg))])

    check()


def test_source_labels() -> None:
    labels = render.source_button_labels([sent("a", "x"), sent("b", "y"), sent("c", "x")])
    assert labels == ["Source [1]", "Source [2]", "Source [1b]"]


def test_bot_talks_to_retrieval_service_only() -> None:
    """Issue 10: bot modules use retrieval's models and service, and index's errors; nothing
    else of the lower layers (only ``bot/cli.py``, which composes the layers, builds them)."""
    import ast

    allowed = ("retrieval.models", "retrieval.service", "index.errors")
    for path in sorted((Path(__file__).resolve().parent.parent / "bot").glob("*.py")):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.split(".")[0] in ("index", "retrieval"):
                    assert name in allowed, f"{path.name} imports {name}"
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("answerer", "reader"), f"{path.name} reaches into .{node.attr}"


def test_doubles_are_answer_services() -> None:
    from doubles import FakeService, SpyService

    from retrieval.service import AnswerService, NewsService

    members = {n for n in vars(AnswerService) if not n.startswith("_")}
    assert members == {"ask", "context", "latest", "about", "version", "reload_if_newer"}
    for cls in (NewsService, SpyService, FakeService):
        assert members <= set(dir(cls)), cls
    fake = FakeService(articles=[ArticleSummary(article_id="a", title="T", source="S", date=DATE)])
    assert fake.about().sources == [SourceSummary(name="S", articles=1)]
    assert render.render_latest(fake.latest(5))[0].startswith("<b>Latest articles</b>")
    assert "Articles: 1 (3 sentences)" in render.render_about(fake.about())


def test_fake_server_rejects_bad_html() -> None:
    for bad in ["a < b", "<b>open", "<script>x</script>", "x & y", "</i>"]:
        with pytest.raises(BotApiError):
            parse_telegram_html(bad)
    assert parse_telegram_html('<a href="u">A &amp; B</a>') == "A & B"


# --------------------------------------------------------------------------- settings


def test_settings_parse_ids_and_defaults() -> None:
    s = BotSettings(_env_file=None, bot_token=TOKEN, allowed_user_ids="1, 2,3",  # type: ignore[call-arg]
                    allowed_chat_ids="-100123", admin_user_ids="")
    assert s.allowed_user_ids == {1, 2, 3} and s.allowed_chat_ids == {-100123} and not s.admin_user_ids
    assert s.access_restricted and s.token == TOKEN
    assert TOKEN not in repr(s) and TOKEN not in str(s.model_dump())


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "TELEGRAM_BOT_TOKEN: missing"),
    ({"TELEGRAM_BOT_TOKEN": "12345:short"}, "TELEGRAM_BOT_TOKEN: not a bot token"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ADMIN_USER_IDS": "1,bob"},
     "TELEGRAM_ADMIN_USER_IDS: expected numeric"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_RATE_LIMIT_PER_USER": "-1"}, "TELEGRAM_RATE_LIMIT_PER_USER:"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "api.telegram.org"}, "TELEGRAM_API_BASE_URL:"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "webhook"}, "TELEGRAM_WEBHOOK_URL:"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_URL": "https://b.test/h"},
     "TELEGRAM_WEBHOOK_SECRET_TOKEN:"),
])
def test_bad_settings_are_one_line_naming_the_setting(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for key in list(os.environ):
        if key.startswith("TELEGRAM_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_bot_settings()
    line = err.value.one_line()
    assert expected in line and "\n" not in line
    assert TOKEN not in line and "short" not in line


def test_settings_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_ADMIN_USER_IDS=7\n")
    s = load_bot_settings()
    assert s.admin_user_ids == {7}


# --------------------------------------------------------------------------- rate limit, history, stats


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_limit() -> None:
    clock = Clock()
    lim = SlidingWindowLimiter(3, 60, clock=clock)
    assert all(lim.check(1).allowed for _ in range(3))
    d = lim.check(1)
    assert not d.allowed and d.first_refusal and d.retry_after == pytest.approx(60)
    assert not lim.check(1).first_refusal  # "slow down" once per streak
    assert lim.check(2).allowed  # per user
    clock.now += 30
    assert not lim.check(1).allowed
    clock.now += 30.01
    assert lim.check(1).allowed
    assert SlidingWindowLimiter(0, 60).check(1).allowed  # 0 disables


def test_history_bounded_by_turns_age_and_chats() -> None:
    clock = Clock()
    hist: ChatHistory[str] = ChatHistory(max_turns=2, max_age=100, clock=clock, max_chats=2)
    for t in ("a", "b", "c"):
        hist.add(1, t)
    assert hist.get(1) == ["b", "c"]
    clock.now += 101
    assert hist.get(1) == []
    hist.add(1, "x")
    hist.add(2, "y")
    hist.add(3, "z")
    assert hist.get(1) == [] and hist.get(3) == ["z"] and len(hist) <= 2
    off: ChatHistory[str] = ChatHistory(max_turns=0, max_age=100)
    off.add(1, "a")
    assert off.get(1) == []


def test_stats() -> None:
    st = BotStats()
    for i in range(100):
        st.record_answer(i % 4 != 0, (i + 1) / 1000)
    snap = st.snapshot()
    assert snap.questions == 100 and snap.unanswered == 25 and snap.unanswered_share == 0.25
    assert snap.p50_ms == pytest.approx(50) and snap.p95_ms == pytest.approx(95)
    assert percentile([], 50) == 0.0
    assert "Unanswered: 25 (25%)" in render.render_stats(snap, "v1")


# --------------------------------------------------------------------------- retries, logging


def transport(script: list[Any], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path.rsplit("/", 1)[-1])
        step = script.pop(0) if script else 200
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, json={"ok": step == 200, "result": True, "description": "x"})
    return httpx.MockTransport(handler)


def retrying(script: list[Any], seen: list[str], max_retries: int = 4) -> RetryingRequest:
    return RetryingRequest(max_retries=max_retries, base_delay=0.001,
                           httpx_kwargs={"transport": transport(script, seen)})


async def _post(req: RetryingRequest, method: str) -> tuple[int, bytes]:
    await req.initialize()
    try:
        return await req.do_request(f"http://t.test/bot{TOKEN}/{method}", "POST")
    finally:
        await req.shutdown()


async def test_retry_on_5xx_and_unsent_requests() -> None:
    seen: list[str] = []
    script: list[Any] = [500, httpx.ConnectError("refused"), 502, 200]
    req = retrying(script, seen)
    code, _ = await _post(req, "sendMessage")
    assert code == 200 and len(seen) == 4


async def test_no_resend_of_a_message_whose_answer_timed_out() -> None:
    seen: list[str] = []
    script: list[Any] = [httpx.ReadTimeout("slow")]
    req = retrying(script, seen)
    with pytest.raises(TimedOut):
        await _post(req, "sendMessage")
    assert seen == ["sendMessage"]
    # idempotent methods are retried after the same failure
    seen.clear()
    script[:] = [httpx.ReadTimeout("slow"), 200]
    req = retrying(script, seen)
    code, _ = await _post(req, "sendChatAction")
    assert code == 200 and seen == ["sendChatAction", "sendChatAction"]


async def test_retries_are_bounded() -> None:
    seen: list[str] = []
    req = RetryingRequest(max_retries=2, base_delay=0.001,
                          httpx_kwargs={"transport": transport([500] * 10, seen)})
    code, _ = await _post(req, "sendMessage")
    assert code == 500 and len(seen) == 3


def test_token_redacted_from_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactToken(TOKEN))
    logger = logging.getLogger("newsbot.test")
    logger.error("POST https://api.telegram.org/bot%s/getMe failed", TOKEN)
    try:
        raise RuntimeError(f"url https://api.telegram.org/bot{TOKEN}/x")
    except RuntimeError:
        logger.exception("boom")
    assert TOKEN not in caplog.text and "<token>" in caplog.text


def test_health_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.health import check

    beat = tmp_path / "hb"
    monkeypatch.setenv("TELEGRAM_HEARTBEAT_FILE", str(beat))
    assert not check()[0]
    beat.write_text("1")
    assert check()[0]
    old = time.time() - 120
    os.utime(beat, (old, old))
    ok, msg = check()
    assert not ok and "old" in msg


# --------------------------------------------------------------------------- CLI


def test_bot_command_stops_on_bad_settings_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("TELEGRAM_"):
            monkeypatch.delenv(key)
    runner = CliRunner()
    result = runner.invoke(app, ["bot", "--index", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == "config error: TELEGRAM_BOT_TOKEN: missing (required)"
    bad = "12345:" + "x" * 5
    result = runner.invoke(app, ["bot"], env={"TELEGRAM_BOT_TOKEN": bad})
    assert result.exit_code == 2 and bad not in result.output
    assert len(result.output.strip().splitlines()) == 1
    # a good token but no index: the index error, still one line
    result = runner.invoke(app, ["bot", "--index", str(tmp_path / "none")],
                           env={"TELEGRAM_BOT_TOKEN": TOKEN, "NEWSBOT_MODEL": "hashing-test"})
    assert result.exit_code == 2 and result.output.startswith("index not found")
    assert TOKEN not in result.output


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def reach(base_url: str, token: str = TOKEN, **overrides: Any) -> tuple[str, float]:
    """``connect`` as start-up runs it: the one error line it raises, and how long it took."""
    from telegram import Bot

    from bot.startup import connect
    from bot.transport import make_request
    from index.errors import NewsbotError

    settings = BotSettings(_env_file=None, bot_token=token, api_base_url=base_url,  # type: ignore[call-arg]
                           **overrides)
    started = time.monotonic()
    with pytest.raises(NewsbotError) as err:
        await connect(Bot(token, base_url=base_url, request=make_request(settings)), settings)
    return err.value.one_line(), time.monotonic() - started


async def test_unreachable_bot_api_is_one_line_within_the_request_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue #9, item 3: a closed port used to take 30 s, 3 chained tracebacks and 130 lines."""
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{closed_port()}/bot"
    line, took = await reach(url, request_timeout_seconds=5)
    assert line == f"error: cannot reach the Telegram Bot API at {url}: connection refused"
    assert took < 5.5  # the retries (about 2-4 s) fit the start-up deadline
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not noisy, [r.getMessage() for r in noisy]


async def test_bot_api_that_never_answers_gives_up_at_the_request_timeout() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/bot"
        line, took = await reach(url, request_timeout_seconds=1)
    assert line == f"error: cannot reach the Telegram Bot API at {url}: no answer within 1 s"
    assert took < 2.0


async def test_wrong_api_url_and_rejected_token_are_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    from fake_bot_api.server import TOKEN as FAKE_TOKEN
    from fake_bot_api.server import FakeBotApi

    async with FakeBotApi() as server:
        # A web server that is not the Bot API (here: a wrong path) answers 404 with HTML.
        wrong = f"http://127.0.0.1:{server.port}/not-the-api/bot"
        line, _ = await reach(wrong, token=FAKE_TOKEN)
        assert line == (f"error: cannot reach the Telegram Bot API at {wrong}: the server there does not "
                        "answer like the Bot API (is TELEGRAM_API_BASE_URL right?)")
        assert not [r for r in caplog.records if r.exc_info], "no library traceback in the log"
        line, _ = await reach(server.base_url, token="7000002:another-bots-token-not-this-one")
    assert line == ("config error: TELEGRAM_BOT_TOKEN: Telegram rejected the token "
                    "(revoked, or from another bot?)")


def test_callback_data_is_parsed_strictly() -> None:
    from bot.buttons import ButtonPress, parse_callback_data

    assert parse_callback_data("m:abcDEF_-") == ButtonPress("more", "abcDEF_-")
    assert parse_callback_data("s:abcDEF_-:2") == ButtonPress("source", "abcDEF_-", 2)
    for forged in ("s:abc:\u00b2", "s:abc:", "s:abc:1:2", "x:abc", "m:", "m:a b", "s:abc:-1", "m:abc\n"):
        assert parse_callback_data(forged) is None, forged
