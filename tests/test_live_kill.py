"""SIGKILL of ``newsbot index watch`` mid-round leaves the last published version intact, and
the next run continues from it (a real subprocess, a real local HTTP server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from feed_server import FeedServer, Route

from index.live.state import LiveState
from index.store import IndexReader, read_current

PARAS = [
    "Firefighters contained the blaze at the {w} warehouse late on Sunday evening.",
    "The {w} fire started in a storage room and spread to the roof within minutes.",
    "No one was injured, but the {w} building will stay closed for repairs this month.",
]
WORDS = ["north", "river", "market", "airport", "harbour"]


def serve(srv: FeedServer, n: int) -> dict[str, str]:
    w = WORDS[n]
    url = srv.page(f"/news/{n}", f"Fire at the {w} warehouse", [p.format(w=w) for p in PARAS])
    return {"title": w, "link": url}


def newsbot(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bot.cli import main; main()", *args]


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_round_keeps_the_published_version(srv: FeedServer, tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    items = [serve(srv, i) for i in range(3)]
    feed = srv.feed("/feed.xml", "Fires", items)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(feed + "\n")
    env = {**os.environ, "NEWSBOT_MODEL": "hashing-test", "NEWSBOT_ALLOW_PRIVATE_URLS": "1",
           "NEWSBOT_POLITENESS_DELAY": "0", "NEWSBOT_FETCH_TIMEOUT": "60"}
    log = tmp_path / "watch.log"
    with log.open("w") as err:
        proc = subprocess.Popen(newsbot("index", "watch", "--feeds", str(feeds), "--index", str(index_dir),
                                        "--every", "1s"), env=env, stdout=err, stderr=err)
    try:
        wait_for(lambda: "round 1:" in log.read_text())
        version = read_current(index_dir)
        assert version is not None
        # Round 2 finds a new story and a page that hangs: kill the process while it waits.
        srv.route("/news/hang", Route(hang=True))
        srv.feed("/feed.xml", "Fires", [*items, serve(srv, 3), {"title": "h", "link": srv.url("/news/hang")}])
        wait_for(srv.hanging.is_set)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert read_current(index_dir) == version
    with IndexReader.open(index_dir) as reader:
        assert reader.manifest.articles == 3
    state = LiveState.load(index_dir)  # describes the published version: the new story is not in it
    assert srv.url("/news/3") not in state.items and srv.url("/news/3") not in state.articles

    srv.page("/news/hang", "Fire at the harbour warehouse", [p.format(w="harbour") for p in PARAS])
    done = subprocess.run(newsbot("index", "watch", "--feeds", str(feeds), "--index", str(index_dir),
                                  "--rounds", "1"), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"round \d+: feeds fetched 1, not modified 0, failed 0; articles new 2,", done.stderr)
    with IndexReader.open(index_dir) as reader:
        assert reader.manifest.articles == 5
    verify = subprocess.run(newsbot("index", "verify", "--index", str(index_dir)), env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.slow
def test_sigterm_stops_watch_cleanly(srv: FeedServer, tmp_path: Path) -> None:
    feed = srv.feed("/feed.xml", "Fires", [serve(srv, 0)])
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(feed + "\n")
    env = {**os.environ, "NEWSBOT_MODEL": "hashing-test", "NEWSBOT_ALLOW_PRIVATE_URLS": "1",
           "NEWSBOT_POLITENESS_DELAY": "0"}
    log = tmp_path / "watch.log"
    with log.open("w") as err:
        command = newsbot("index", "watch", "--feeds", str(feeds), "--index", str(tmp_path / "idx"),
                          "--every", "1h")
        proc = subprocess.Popen(command, env=env, stdout=err, stderr=err)
    try:
        wait_for(lambda: "round 1:" in log.read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "SIGTERM received" in log.read_text()
