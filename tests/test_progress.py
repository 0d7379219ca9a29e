"""Build progress as an operator sees it: a bar with a total at a terminal, a log line every
~10 s in container logs, and counts that match the inputs."""

from __future__ import annotations

import io
from pathlib import Path

from index.embedding import HashingEmbedder
from index.pipeline import build_index
from index.progress import (
    LOG_EVERY_SECONDS,
    LogProgress,
    ProgressCounts,
    TerminalProgress,
    format_duration,
    open_progress,
    progress_line,
)
from index.settings import IndexSettings
from index.sources import count_articles


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_line_names_articles_total_rate_and_eta() -> None:
    line = progress_line(ProgressCounts(articles=500, texts=4000, total=2000, elapsed=50.0))
    assert line == (
        "indexing: 500/2,000 articles, 4,000 texts embedded (80 texts/s), 50s elapsed, ETA 2m30s"
    )


def test_log_line_without_a_known_total_has_no_eta() -> None:
    line = progress_line(ProgressCounts(articles=3, texts=10, total=None, elapsed=5.0))
    assert "3 articles" in line and "ETA" not in line


def test_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (4.4, 125, 7620)] == ["4s", "2m05s", "2h07m"]


def test_log_progress_writes_a_line_every_ten_seconds_not_every_batch() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = LogProgress(total=100, stream=out, clock=clock)
    for _ in range(5):  # five quick batches: nothing yet
        clock.now += 1
        progress.advance(2, 20)
    assert out.getvalue() == ""
    clock.now += LOG_EVERY_SECONDS
    progress.advance(2, 20)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("indexing: 12/100 articles, 120 texts embedded")
    assert "ETA" in lines[0]


def test_terminal_gets_a_bar_with_a_total_and_pipes_get_log_lines() -> None:
    terminal = FakeTerminal()
    bar = open_progress(True, 10, terminal)
    assert isinstance(bar, TerminalProgress)
    bar.advance(4, 30)
    bar.close()
    shown = terminal.getvalue()
    assert "4/10" in shown and "30 texts" in shown
    assert isinstance(open_progress(True, 10, io.StringIO()), LogProgress)
    assert open_progress(False, 10, terminal) is None


def test_count_articles_matches_what_a_build_indexes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("Title A\n\nThe first article has one sentence.\n")
    (src / "b.jsonl").write_text(
        '{"id": "b1", "title": "B1", "body": "Body one is here."}\n\n'
        '{"id": "b2", "title": "B2", "body": "Body two is here."}\n'
    )
    (src / "notes.pdf").write_bytes(b"%PDF")
    settings = IndexSettings(index_dir=tmp_path / "idx", model="hashing-test")
    assert count_articles([str(src)], settings) == 3
    report = build_index([str(src)], settings, HashingEmbedder(), progress=False)
    assert report.articles == 3
    assert count_articles(["https://news.example/feed.rss"], settings) is None
