"""Feeds benchmark: 20 local feeds of 50 items, pages served locally; two ``watch`` rounds.

Round 1 fetches every feed and page, extracts, embeds and publishes. Round 2 changes nothing:
every feed answers 304 to the conditional GET, so no page is fetched and nothing is embedded
or published. Goal: round 2 costs under 5% of round 1.

    .venv/bin/python bench/feeds_bench.py                      # real model (all-MiniLM-L6-v2)
    .venv/bin/python bench/feeds_bench.py --model hashing-test # quick run, no torch

The server runs in this process on 127.0.0.1 (so ``allow_private_urls`` is on and the
politeness delay is 0: every feed is on the same local host).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from feed_server import FeedServer  # noqa: E402

from index.embedding import load_embedder  # noqa: E402
from index.live.watch import RoundReport, run_round  # noqa: E402
from index.settings import IndexSettings  # noqa: E402
from index.sources.fetch import Fetcher  # noqa: E402
from index.sources.settings import LiveSettings  # noqa: E402

PLACES = ["Lisbon", "Nairobi", "Osaka", "Quito", "Tromsø", "Adelaide", "Tbilisi", "Winnipeg", "Dakar",
          "Hanoi", "Cork", "Valparaíso", "Izmir", "Bergen", "Tucson", "Kraków", "Mombasa", "Leeds"]
SUBJECTS = ["the city council", "the port authority", "local farmers", "the health ministry", "teachers",
            "the transit agency", "residents", "the weather service", "a university team", "firefighters",
            "the central bank", "hospital staff", "the football club", "museum curators"]
EVENTS = ["approved a new budget", "reported record rainfall", "opened a bridge", "announced a strike",
          "published a study", "delayed the project", "raised ticket prices", "found a rare fossil",
          "won the regional final", "cut interest rates", "evacuated two districts", "restored a mural"]
DETAILS = ["after a long debate", "despite strong opposition", "earlier than expected", "for the first time",
           "following weeks of talks", "amid rising costs", "with support from volunteers",
           "according to officials", "in a statement on Monday", "as crowds gathered outside"]


def article(rng: random.Random, feed: int, item: int) -> tuple[str, list[str]]:
    """A plausible news article of 8-14 sentences in 3-4 paragraphs, unique per (feed, item)."""
    place = rng.choice(PLACES)
    title = f"{place}: {rng.choice(SUBJECTS).capitalize()} {rng.choice(EVENTS)} (report {feed}-{item})"
    sentences = []
    for _ in range(rng.randint(8, 14)):
        n = rng.randint(2, 950)
        sentences.append(f"In {rng.choice(PLACES)}, {rng.choice(SUBJECTS)} {rng.choice(EVENTS)} "
                         f"{rng.choice(DETAILS)}, affecting about {n} people in case {feed}-{item}.")
    k = max(1, len(sentences) // 3)
    paras = [" ".join(sentences[i:i + k]) for i in range(0, len(sentences), k)]
    return title, paras


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--index", type=Path, default=None, help="index directory (default: a temp dir)")
    args = ap.parse_args(argv)

    rng = random.Random(7)
    with FeedServer() as srv, tempfile.TemporaryDirectory() as tmp:
        feeds = []
        for f in range(args.feeds):
            items = []
            for i in range(args.items):
                title, paras = article(rng, f, i)
                url = srv.page(f"/f{f}/a{i}", title, paras, date=f"2024-05-{1 + i % 28:02d}T08:00:00Z")
                items.append({"title": title, "link": url, "guid": url,
                              "description": paras[0][:200],
                              "pubDate": f"Wed, {1 + i % 28:02d} May 2024 08:00:00 GMT"})
            feeds.append(srv.feed(f"/feed{f}.xml", f"Local feed {f}", items))

        settings = IndexSettings(index_dir=args.index or Path(tmp) / "idx", model=args.model,
                                 allow_private_urls=True)
        live = LiveSettings(politeness_delay=0)
        t = time.monotonic()
        embedder = load_embedder(settings.model, settings.torch_threads)
        print(f"model {args.model} loaded in {time.monotonic() - t:.1f} s (not counted)")
        builds: list[Any] = []

        def publish(*a: Any, **kw: Any) -> Any:
            from index.pipeline import apply_changes

            build = apply_changes(*a, **kw)
            builds.append(build)
            return build

        def one_round() -> tuple[RoundReport, float, int, int]:
            hits, not_mod = sum(srv.hits.values()), sum(srv.not_modified.values())
            builds.clear()
            with Fetcher(live, allow_private=True) as fetcher:
                start = time.monotonic()
                report = run_round(feeds, settings, embedder, live=live, fetcher=fetcher, publish=publish)
                seconds = time.monotonic() - start
            return (report, seconds, sum(srv.hits.values()) - hits, sum(srv.not_modified.values()) - not_mod)

        r1, s1, h1, n1 = one_round()
        print(r1.line())
        embedded = builds[0].embedded_texts if builds else 0
        print(f"round 1: {s1:.2f} s, {h1} requests ({n1} answered 304), {embedded} texts embedded")
        r2, s2, h2, n2 = one_round()
        print(r2.line())
        embedded = builds[0].embedded_texts if builds else 0
        print(f"round 2: {s2:.3f} s, {h2} requests ({n2} answered 304), {embedded} texts embedded")
        ratio = s2 / s1 if s1 else float("nan")
        print(f"{args.feeds} feeds x {args.items} items, model {args.model}: round 1 {s1:.2f} s, "
              f"round 2 {s2:.3f} s, ratio {ratio:.2%} (goal < 5%)")
        return 0 if ratio < 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
