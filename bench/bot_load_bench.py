"""Load benchmark of the Telegram bot, end to end through a local Bot API server.

50 simulated users (private chats) each ask 20 questions, one at a time, with a short think
time between an answer and the next question. Every message goes through the real bot
(python-telegram-bot Application, HTTPXRequest, AIORateLimiter, our handlers, the real
Answerer) and the fake Bot API server of ``tests/fake_bot_api`` on 127.0.0.1.

Measured: throughput (questions answered per second of wall time), p50/p95/max time from the
user's message reaching the Bot API server to the reply reaching it, and lost (no reply
within ``--timeout``) and duplicate (the same reply twice) replies. The goal is p95 < 300 ms
on a 2-core machine with zero lost and zero duplicate replies.

Corpus: the BBC news set in ``../shared`` when present (indexed once into
``bench/out/bot-bench-index`` with the real model), else the demo articles shipped in
``retrieval/demo_articles``. Questions are built from the corpus's headlines.

Usage::

    .venv/bin/python bench/bot_load_bench.py [--users 50] [--questions 20] [--think 1 5]
        [--model all-MiniLM-L6-v2 | hashing-test] [--index DIR] [--json bench/out/bot_load.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from doubles import SpyService  # noqa: E402
from fake_bot_api.server import TOKEN, FakeBotApi  # noqa: E402

from bot.app import build_application, running  # noqa: E402
from bot.settings import BotSettings  # noqa: E402
from bot.stats import percentile  # noqa: E402
from retrieval.models import Answer, Filters, Turn  # noqa: E402
from retrieval.service import AnswerService, NewsService  # noqa: E402

BBC = REPO.parent / "shared" / "datasets" / "bbc_news" / "bbc_news.jsonl"
DEMO = REPO / "retrieval" / "demo_articles"
OUT = REPO / "bench" / "out"

TEMPLATES = [
    "What happened: {t}?",
    "{t}?",
    "Tell me about {t}",
    "What do we know about {t}?",
    "Why {t}?",
]


def corpus_files() -> list[Path]:
    if BBC.exists():
        return [BBC]
    return sorted(p for p in DEMO.iterdir() if p.is_file())


def ensure_index(index_dir: Path, model: str) -> Path:
    """Build the bench index once (skipped when a published version is already there)."""
    if (index_dir / "CURRENT").exists():
        return index_dir
    from index.embedding import load_embedder
    from index.pipeline import build_index
    from index.settings import IndexSettings

    settings = IndexSettings(index_dir=index_dir, model=model)
    print(f"building the bench index in {index_dir} from {', '.join(map(str, corpus_files()))} ...",
          flush=True)
    build_index(corpus_files(), settings, load_embedder(model, settings.torch_threads), progress=False)
    return index_dir


def questions_from(answerer: Any, n: int, seed: int) -> list[str]:
    """Questions built from indexed headlines (answerable and a few not)."""
    titles = [a.title for a in answerer.reader.latest_articles(5000) if a.title]
    rng = random.Random(seed)
    out = [rng.choice(TEMPLATES).format(t=rng.choice(titles).rstrip("?.!")) for _ in range(n)]
    for i in range(0, n, 10):  # one in ten cannot be answered
        out[i] = rng.choice(["What is the population of Mars?", "Who won the 2031 world cup?",
                             "How do I bake sourdough bread?"])
    return out


class StubService(SpyService):
    """Replays precomputed answers instantly: measures the bot's own overhead (``--stub``).
    Everything but ``ask`` is the real service's (via the tests' ``SpyService``)."""

    def __init__(self, real: NewsService, sample: list[str]) -> None:
        super().__init__(real)
        self._answers = [real.ask(q) for q in sample]
        self._i = 0

    def ask(self, question: str, history: Sequence[Turn] | None = None,
            filters: Filters | None = None) -> Answer:
        self._i += 1
        return self._answers[self._i % len(self._answers)]

    def reload_if_newer(self) -> bool:
        return False


@dataclass
class Pending:
    pushed_at: float
    texts: list[str] = field(default_factory=list)
    first_reply_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    duplicates: int = 0
    unanswered: int = 0
    stray: int = 0


async def simulate_users(
    server: FakeBotApi, questions: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """The users' side: send questions, wait for the replies, measure. Runs with the server."""
    pending: dict[int, Pending] = {}
    results = Results()

    def on_send(msg: dict[str, Any]) -> None:
        chat = msg["chat"]["id"]
        p = pending.get(chat)
        if p is None:
            results.stray += 1
            return
        if p.first_reply_at is None:
            p.first_reply_at = msg["_sent_at"]
        if msg["text"] in p.texts:
            results.duplicates += 1
        p.texts.append(msg["text"])
        # an answer's last part carries the buttons; "I don't know" is one message
        if msg.get("reply_markup") or msg["text"].startswith("I don't know"):
            p.done.set()

    server.on_send = on_send
    rng = random.Random(args.seed)

    async def user(uid: int) -> None:
        chat = 10_000 + uid
        mine = questions[uid * args.questions : (uid + 1) * args.questions]
        await asyncio.sleep(rng.uniform(0, args.think[1]))  # users do not start in lockstep
        for q in mine:
            p = Pending(pushed_at=time.perf_counter())
            pending[chat] = p
            server.message(q, user_id=chat)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(p.done.wait(), args.timeout)
            if p.first_reply_at is None:
                results.lost += 1
            else:
                results.latencies.append(p.first_reply_at - p.pushed_at)
                if p.texts[0].startswith("I don't know"):
                    results.unanswered += 1
            await asyncio.sleep(rng.uniform(*args.think))
        await asyncio.sleep(1.0)  # late duplicates of the last answer would land here
        pending.pop(chat, None)

    t0 = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(args.users)))
    wall = time.perf_counter() - t0 - 1.0
    lat = sorted(results.latencies)
    return {
        "questions": len(questions),
        "replies": len(lat),
        "lost": results.lost,
        "duplicates": results.duplicates,
        "stray_messages": results.stray,
        "unanswered_share": round(results.unanswered / max(1, len(lat)), 3),
        "wall_seconds": round(wall, 2),
        "throughput_qps": round(len(lat) / wall, 2),
        "p50_ms": round(percentile(lat, 50) * 1000, 1),
        "p95_ms": round(percentile(lat, 95) * 1000, 1),
        "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "max_ms": round(max(lat) * 1000, 1) if lat else 0.0,
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else 0.0,
    }


async def users_process(args: argparse.Namespace) -> None:
    """``--role users``: the Bot API server and the users, in their own process (like Telegram)."""
    questions = json.loads(Path(args.questions_file).read_text())
    async with FakeBotApi() as server:
        print(f"PORT {server.port}", flush=True)
        # wait for the bot to start polling before the users begin
        await server.wait_for(lambda: server.calls_of("getUpdates"), timeout=120)
        result = await simulate_users(server, questions, args)
    print("RESULT " + json.dumps(result), flush=True)


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    from index.embedding import load_embedder, threads_for
    from index.settings import load_index_settings
    from retrieval import Answerer

    index_dir = ensure_index(Path(args.index), args.model)
    # as `newsbot bot` does: one torch thread per encode, questions in parallel threads
    isettings = load_index_settings()
    embedder = load_embedder(args.model, threads_for(args.torch_threads, "interactive"), isettings.precision,
                             isettings.query_runtime, isettings.cache_dir)
    answerer = Answerer(index_dir, embedder=embedder)
    questions = questions_from(answerer, args.users * args.questions, args.seed)
    for q in questions[:5]:  # warm up (the first encode of a process is slow)
        answerer.ask(q)
    real = NewsService(answerer)
    service: AnswerService = StubService(real, questions[:50]) if args.stub else real

    def settings_for(base_url: str, token: str) -> BotSettings:
        return BotSettings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=token,
            api_base_url=base_url,
            rate_limit_per_user=0,  # simulated users ask faster than a person would
            max_messages_per_second=args.max_messages_per_second,
            answer_workers=args.workers,
        )

    cpu0 = time.process_time()
    if args.inproc:
        async with FakeBotApi() as server:
            app = build_application(settings_for(server.base_url, server.token), service)
            async with running(app, poll_timeout=10):
                result = await simulate_users(server, questions, args)
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        qfile = OUT / "bot_bench_questions.json"
        qfile.write_text(json.dumps(questions))
        cmd = [sys.executable, __file__, "--role", "users", "--questions-file", str(qfile),
               "--users", str(args.users), "--questions", str(args.questions),
               "--think", *map(str, args.think),
               "--timeout", str(args.timeout), "--seed", str(args.seed)]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode()
        if not line.startswith("PORT "):
            raise SystemExit(f"the users process did not start: {line!r}")
        port = int(line.split()[1])
        app = build_application(settings_for(f"http://127.0.0.1:{port}/bot", TOKEN), service)
        async with running(app, poll_timeout=10):
            out = (await proc.stdout.read()).decode()
            await proc.wait()
        result = json.loads(next(ln[7:] for ln in out.splitlines() if ln.startswith("RESULT ")))
    snap = app.bot_data["newsbot"].stats.snapshot()
    cpu = time.process_time() - cpu0
    return {
        "users": args.users,
        "questions_per_user": args.questions,
        **result,
        "bot_answer_p50_ms": round(snap.p50_ms, 1),
        "bot_answer_p95_ms": round(snap.p95_ms, 1),
        # CPU the bot's process spent per question (answering included; the server's excluded)
        "bot_cpu_ms_per_question": round(cpu * 1000 / max(1, result["replies"]), 1),
        "think_seconds": list(args.think),
        "model": args.model,
        "corpus": ", ".join(p.name for p in corpus_files()),
        "articles": service.about().articles,
        "server": "in-process" if args.inproc else "separate process",
        "answerer": "stub (precomputed answers)" if args.stub else "real",
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--questions", type=int, default=20, help="questions per user")
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 5.0), metavar=("MIN", "MAX"),
                        help="seconds a user waits after an answer before the next question")
    parser.add_argument("--model", default="all-MiniLM-L6-v2",
                        help="embedding model (hashing-test: no torch)")
    parser.add_argument("--index", default=None, help="index directory (built if missing)")
    parser.add_argument("--workers", type=int, default=2, help="answer threads (TELEGRAM_ANSWER_WORKERS)")
    parser.add_argument("--max-messages-per-second", type=float, default=30.0,
                        help="the bot's flood limit (Telegram's is 30 messages/s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a reply counts as lost")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--inproc", action="store_true",
                        help="run the Bot API server and users in the bot's process (default: their own)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads (as newsbot bot: 1 unless NEWSBOT_TORCH_THREADS)")
    parser.add_argument("--stub", action="store_true",
                        help="replay precomputed answers: the bot's own overhead, without search")
    parser.add_argument("--role", choices=["bot", "users"], default="bot", help=argparse.SUPPRESS)
    parser.add_argument("--questions-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "users":
        asyncio.run(users_process(args))
        return
    if args.index is None:
        suffix = "" if args.model == "all-MiniLM-L6-v2" else f"-{args.model}"
        args.index = str(OUT / f"bot-bench-index{suffix}")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    res = asyncio.run(run_bench(args))
    print(json.dumps(res, indent=2))
    print(f"\n{res['questions']} questions from {res['users']} users: {res['throughput_qps']} answers/s, "
          f"p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms (goal < 300 ms), "
          f"lost {res['lost']}, duplicates {res['duplicates']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    ok = res["lost"] == 0 and res["duplicates"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
