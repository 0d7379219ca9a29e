"""Versions as a user meets them: build says what it replaced, rollback, list, a garbage
CURRENT repaired by build, and a full disk reported in one line with nothing lost."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from feed_server import FeedServer, Route
from test_store_support import make_article, make_articles, settings_for, write_jsonl
from typer.testing import CliRunner

from bot.cli import app
from index.embedding import HashingEmbedder
from index.errors import DiskFullError
from index.live.watch import watch
from index.models import Article
from index.pipeline import apply_changes
from index.sources.settings import LiveSettings
from index.store import (
    CURRENT_FILE,
    MIN_ROOM_BYTES,
    IndexReader,
    IndexWriter,
    StagedVersion,
    list_versions,
    make_room,
    verify_index,
    versions_dir,
)


@pytest.fixture(autouse=True)
def _hashing_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    monkeypatch.setenv("NEWSBOT_INDEX_DIR", str(tmp_path / "default-index"))
    monkeypatch.chdir(tmp_path)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def current(idx: Path) -> str:
    return (idx / CURRENT_FILE).read_text().strip()


def articles_in(idx: Path) -> int:
    with IndexReader.open(idx) as reader:
        return reader.manifest.articles


# -- build over an index, rollback -------------------------------------------------------------


def test_build_over_an_index_names_what_it_replaced_and_rollback_brings_it_back(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "six.jsonl", make_articles(6))), "--index", str(idx))
    first = current(idx)
    code, out, err = run("index", "build", str(write_jsonl(tmp_path / "two.jsonl", make_articles(2, 50))),
                         "--index", str(idx))
    assert code == 0, err
    second = current(idx)
    assert f"replaced version {first} (6 articles); `newsbot index rollback {first}` brings it back" in out
    assert articles_in(idx) == 2

    code, out, err = run("index", "rollback", "--index", str(idx))
    assert code == 0, err
    assert out.strip() == f"version {first} (6 articles) is current; was {second}"
    assert current(idx) == first and articles_in(idx) == 6 and verify_index(idx).ok

    code, out, _ = run("index", "rollback", second, "--index", str(idx), "--json")
    assert code == 0 and json.loads(out) == {"previous": first, "current": second, "articles": 2}
    assert articles_in(idx) == 2

    # a new publish after a rollback gets a fresh, higher version number
    code, _, _ = run("index", "add", str(write_jsonl(tmp_path / "one.jsonl", [make_article(90)])),
                     "--index", str(idx))
    assert code == 0 and current(idx) > second


def test_rollback_to_an_unknown_version_is_one_line_listing_the_kept_ones(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(2))), "--index", str(idx))
    only = current(idx)
    code, out, err = run("index", "rollback", "v999", "--index", str(idx))
    assert code == 2 and out == ""
    assert err.strip() == f"config error: {idx}: no version 'v999'; kept: {only}"
    code, _, err = run("index", "rollback", "--index", str(idx))
    assert code == 2 and f"no version older than {only} is kept" in err and len(err.splitlines()) == 1
    assert current(idx) == only


def test_rollback_refuses_a_damaged_version_and_keeps_current(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(3))), "--index", str(idx))
    first = current(idx)
    run("index", "add", str(write_jsonl(tmp_path / "b.jsonl", [make_article(40)])), "--index", str(idx))
    second = current(idx)
    (versions_dir(idx) / first / "chunks.faiss").write_bytes(b"garbage")
    code, _, err = run("index", "rollback", first, "--index", str(idx))
    assert code == 2 and err.startswith("index corrupt: ") and len(err.splitlines()) == 1
    assert current(idx) == second and verify_index(idx).ok


# -- list -----------------------------------------------------------------------------------


def test_list_shows_ids_newest_first_and_remove_takes_them(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    undated = Article(id="no-date", title="Undated\tpiece\nwith breaks", body="Words here. More words.",
                      source="Other Desk")
    rows = [*make_articles(3), undated]
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", rows)), "--index", str(idx))

    code, out, _ = run("index", "list", "--index", str(idx))
    assert code == 0
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["art-2", "art-1", "art-0", "no-date"]
    assert lines[0].split("\t")[1:3] == ["2024-01-03", "Test Wire"]
    assert lines[-1] == "no-date\tundated\tOther Desk\tUndated piece with breaks"

    code, out, _ = run("index", "list", "--index", str(idx), "--json", "--source", "Test Wire",
                       "--limit", "2")
    items = [json.loads(line) for line in out.splitlines()]
    assert [i["id"] for i in items] == ["art-2", "art-1"]
    assert set(items[0]) == {"id", "title", "date", "source", "url"}

    code, out, _ = run("index", "remove", "art-1", "--index", str(idx))
    assert code == 0 and "removed 1" in out
    _, out, _ = run("index", "list", "--index", str(idx))
    assert "art-1\t" not in out


# -- a garbage CURRENT ------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", ["../../etc", "", "v000001-x/../..", ".hidden"])
def test_build_repairs_a_garbage_current_that_add_refuses(tmp_path: Path, garbage: str) -> None:
    idx = tmp_path / "idx"
    src = write_jsonl(tmp_path / "a.jsonl", make_articles(3))
    run("index", "build", str(src), "--index", str(idx))
    (idx / CURRENT_FILE).write_text(garbage)
    code, _, err = run("index", "add", str(src), "--index", str(idx))
    assert code == 2 and err.startswith("index corrupt: ") and len(err.splitlines()) == 1
    code, _, err = run("index", "build", str(src), "--index", str(idx))
    assert code == 0, err
    assert verify_index(idx).ok and articles_in(idx) == 3 and current(idx) in list_versions(idx)


# -- disk full ---------------------------------------------------------------------------------


def _enospc(*_a: object, **_k: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_is_one_line_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(3))), "--index", str(idx))
    before = current(idx)
    monkeypatch.setattr(StagedVersion, "finalize", _enospc)
    code, out, err = run("index", "add", str(write_jsonl(tmp_path / "b.jsonl", [make_article(9)])),
                         "--index", str(idx))
    assert code == 2 and out == ""
    assert err.startswith(f"disk full: {idx}: the disk filled up while writing the new version (")
    assert err.rstrip().endswith(f"nothing changed, version {before} is still current")
    assert len(err.splitlines()) == 1
    assert current(idx) == before and verify_index(idx).ok
    assert [p.name for p in versions_dir(idx).iterdir()] == [before]  # no half-written version left


def test_make_room_drops_the_oldest_versions_first_then_refuses(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "idx", keep_versions=5)
    for i in range(4):
        apply_changes([make_article(i)], (), settings, HashingEmbedder())
    names = list_versions(settings.index_dir)
    assert len(names) == 4
    dropped_per_call = iter([0, 10**9])  # short at first, enough after one drop
    with IndexWriter(settings.index_dir) as writer:
        assert make_room(writer, free=lambda _p: next(dropped_per_call)) == names[:1]
    assert list_versions(settings.index_dir) == names[1:]
    with IndexWriter(settings.index_dir) as writer, pytest.raises(DiskFullError) as caught:
        make_room(writer, free=lambda _p: MIN_ROOM_BYTES // 2)
    assert "nothing changed" in caught.value.one_line()
    assert "after removing older versions" in str(caught.value)
    assert list_versions(settings.index_dir) == names[3:]  # only the current one is left
    assert verify_index(settings.index_dir).ok


# -- a real full disk (a small tmpfs; needs permission to mount, as root in CI) ---------------

#: Room for the build and four small versions (each exact FAISS file carries its dim x dim scaling
#: transform, 256 KB with the test embedder; see index/store/vectors.py exact_index).
SMALL_DISK_BYTES = 4 * 2**20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES}", "tmpfs", str(mount)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """A filler file that leaves about ``leave`` bytes free on ``disk``."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def test_a_really_full_disk_loses_nothing_and_old_versions_make_room(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = small_disk / "idx"
    monkeypatch.setenv("NEWSBOT_KEEP_VERSIONS", "5")
    code, _, err = run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(4))),
                       "--index", str(idx))
    assert code == 0, err
    first = current(idx)
    # the disk fills while a large add is written: one line, the old version stays current
    big = write_jsonl(tmp_path / "big.jsonl", make_articles(400, 100, extra="Padding words. " * 40))
    filler = _fill(small_disk, MIN_ROOM_BYTES + 200_000)
    code, out, err = run("index", "add", str(big), "--index", str(idx))
    assert code == 2, (out, err)
    assert err.startswith("disk full: ") and "nothing changed" in err and len(err.splitlines()) == 1
    assert current(idx) == first and verify_index(idx).ok and articles_in(idx) == 4
    assert list_versions(idx) == [first]
    filler.unlink()

    # old versions fill the disk: the next publish removes the oldest first and succeeds
    for i in range(3):
        one = write_jsonl(tmp_path / f"n{i}.jsonl", [make_article(i + 10)])
        code, _, err = run("index", "add", str(one), "--index", str(idx))
        assert code == 0, err
    kept = list_versions(idx)
    assert len(kept) == 4
    version_bytes = sum(f.stat().st_size for f in (versions_dir(idx) / kept[-1]).rglob("*"))
    _fill(small_disk, MIN_ROOM_BYTES - version_bytes)  # room only once two old versions are gone
    code, out, err = run("index", "add", str(write_jsonl(tmp_path / "last.jsonl", [make_article(77)])),
                         "--index", str(idx))
    assert code == 0, err
    assert f"note: removed old version {kept[0]} to make room on the disk" in err
    assert verify_index(idx).ok and articles_in(idx) == 8
    assert kept[-1] in list_versions(idx)  # the previous version is still there to roll back to


def test_no_room_to_copy_the_metadata_is_disk_full_not_corrupt(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = small_disk / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(30))), "--index", str(idx))
    before = current(idx)
    monkeypatch.setattr("index.pipeline.make_room", lambda _writer: [])  # as if the estimate were wrong
    _fill(small_disk, 8_000)
    code, _, err = run("index", "add", str(write_jsonl(tmp_path / "b.jsonl", [make_article(99)])),
                       "--index", str(idx))
    assert code == 2 and err.startswith("disk full: ") and "index corrupt" not in err, err
    assert len(err.splitlines()) == 1
    assert current(idx) == before and verify_index(idx).ok and list_versions(idx) == [before]


def test_watch_retries_next_round_when_the_disk_was_full(
    srv: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = {"title": "Harbour story", "link": srv.url("/news/1"), "description": "The harbour reopened."}
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(srv.feed("/feed.xml", "F", [item]) + "\n")
    settings = settings_for(tmp_path / "idx", allow_private_urls=True)
    live = LiveSettings(politeness_delay=0, fetch_timeout=0.3, max_redirects=3)
    real_finalize = StagedVersion.finalize
    calls = {"n": 0}

    def full_once(self: StagedVersion, *a: object, **k: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            _enospc()
        return real_finalize(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(StagedVersion, "finalize", full_once)
    reports = watch(feeds, settings, HashingEmbedder(), timedelta(0), None, 2, live=live)
    assert len(reports) == 1 and reports[0].articles_new == 1  # round 1 failed, round 2 published it
    with IndexReader.open(settings.index_dir) as reader:
        assert reader.manifest.articles == 1


def test_add_fetches_pages_before_taking_the_writer_lock(
    srv: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setenv("NEWSBOT_POLITENESS_DELAY", "0")
    monkeypatch.setenv("NEWSBOT_FETCH_TIMEOUT", "5")

    from index.pipeline import add_to_index
    from index.store import IndexLock

    srv.route("/news/slow", Route(hang=True))
    srv.page("/news/fast", "Harbour reopens", ["The harbour reopened on Monday after repairs.",
                                                "Boats returned within the hour."])
    feed = srv.feed("/feed.xml", "F", [
        {"title": "Slow story", "link": srv.url("/news/slow"), "description": "A slow page, in brief."},
        {"title": "Harbour reopens", "link": srv.url("/news/fast")},
    ])
    settings = settings_for(tmp_path / "idx", allow_private_urls=True)
    apply_changes(make_articles(2), (), settings, HashingEmbedder())
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(add_to_index([feed], settings, HashingEmbedder(),
                                                                      progress=False)))
    worker.start()
    assert srv.hanging.wait(10)  # the add is waiting on the slow page...
    with IndexLock(settings.index_dir, timeout=0.5):  # ...and another writer can still get in
        pass
    srv.release.set()
    worker.join(30)
    assert done and articles_in(settings.index_dir) == 4


def test_a_first_build_that_finds_nothing_leaves_no_index_folder(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "photo.png").write_bytes(b"\x89PNG")
    idx = tmp_path / "idx"
    code, out, err = run("index", "build", str(folder), "--index", str(idx))
    assert code == 2 and out == "" and err.splitlines()[-1] == (
        f"ingest error: {folder}: no articles found; the index was not changed")
    assert not idx.exists()  # "nothing changed" is true: no empty versions/ or lock left behind
    # an existing index keeps its folder and version when a build finds nothing
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(2))), "--index", str(idx))
    before = current(idx)
    assert run("index", "build", str(folder), "--index", str(idx))[0] == 2
    assert current(idx) == before and verify_index(idx).ok
