"""`newsbot index ...` as a user runs it: exit codes, one-line messages, stats JSON, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_store_support import make_article, make_articles, synthetic_corpus, write_jsonl
from typer.testing import CliRunner

from bot.cli import app
from index.store import CURRENT_FILE, IndexReader, list_versions, verify_index, versions_dir

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _hashing_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    monkeypatch.setenv("NEWSBOT_INDEX_DIR", str(tmp_path / "default-index"))
    monkeypatch.chdir(tmp_path)  # no stray .env, relative paths land in tmp


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_build_stats_verify(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "news.jsonl", make_articles(6))
    idx = tmp_path / "idx"
    code, out, err = run("index", "build", str(src), "--index", str(idx))
    assert code == 0, err
    assert out.strip().startswith("added 6, replaced 0, unchanged 0, duplicates 0, failed 0, removed 0 in ")
    assert "(version v000001-" in out

    code, out, _ = run("index", "stats", "--index", str(idx), "--json")
    assert code == 0
    data = json.loads(out)
    assert {"articles", "chunks", "sentences", "model", "index_type", "dimension", "size_bytes",
            "last_update", "version", "sources"} <= set(data)
    assert (data["articles"], data["model"], data["dimension"], data["index_type"]) == (
        6, "hashing-test", 256, "flat")
    assert data["sources"][0]["name"] == "Test Wire"

    code, out, _ = run("index", "stats", "--index", str(idx))
    assert code == 0 and "articles   6" in out and "hashing-test" in out

    code, out, _ = run("index", "verify", "--index", str(idx))
    assert code == 0 and out.startswith("ok")


def test_default_index_dir_comes_from_settings(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "news.jsonl", make_articles(2))
    assert run("index", "build", str(src))[0] == 0
    assert (tmp_path / "default-index" / CURRENT_FILE).is_file()


def test_bad_inputs_are_one_line_each_and_exit_1(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(3))), "--index", str(idx))
    bad = write_jsonl(tmp_path / "b.jsonl", make_articles(2, start=10), bad_lines=[2])
    code, out, err = run("index", "add", str(bad), str(tmp_path / "missing.jsonl"), "--index", str(idx))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert any("b.jsonl:2" in line for line in lines)
    assert any("missing.jsonl" in line for line in lines)
    assert "added 2" in out and "failed 2" in out
    # nothing already indexed was lost
    with IndexReader.open(idx) as r:
        assert r.manifest.articles == 5
    assert verify_index(idx).ok


def test_build_of_only_bad_inputs_keeps_the_index(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(3))), "--index", str(idx))
    before = (idx / CURRENT_FILE).read_text()
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1,\n')
    code, _out, err = run("index", "build", str(broken), "--index", str(idx))
    assert code == 2
    assert "no articles found" in err and len(err.strip().splitlines()) == 2  # the failure + the error
    assert (idx / CURRENT_FILE).read_text() == before


def test_remove_and_unknown_ids(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(3))), "--index", str(idx))
    code, out, _ = run("index", "remove", "art-1", "--index", str(idx))
    assert code == 0 and "removed 1" in out
    code, _out, err = run("index", "remove", "nope", "--index", str(idx))
    assert code == 1 and "nope" in err


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    code, _out, err = run("index", "stats", "--index", str(tmp_path / "none"))
    assert code == 2 and err.startswith("index not found:") and len(err.strip().splitlines()) == 1

    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(3))), "--index", str(idx))
    version = (idx / CURRENT_FILE).read_text().strip()
    (versions_dir(idx) / version / "chunks.faiss").write_bytes(b"garbage")
    code, _out, err = run("index", "verify", "--index", str(idx))
    assert code == 2 and "chunks.faiss" in err and len(err.strip().splitlines()) == 1


def test_model_mismatch_is_reported(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(2))), "--index", str(idx))
    more = write_jsonl(tmp_path / "b.jsonl", make_articles(1, start=5))
    code, _out, err = run("index", "add", str(more), "--index", str(idx), "--model", "hashing-test-other")
    assert code == 2 and err.startswith("model mismatch:") and "newsbot index build" in err


def test_build_index_type_option(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    src = write_jsonl(tmp_path / "a.jsonl", make_articles(4))
    code, _out, err = run("index", "build", str(src), "--index", str(idx), "--index-type", "hnsw")
    assert code == 0, err
    assert json.loads(run("index", "stats", "--index", str(idx), "--json")[1])["index_type"] == "hnsw"
    code, _out, _err = run("index", "build", str(src), "--index", str(idx), "--index-type", "bogus")
    assert code != 0


def test_build_real_inputs_via_ingest(tmp_path: Path) -> None:
    """A folder with a plain-text scrape, an HTML page and JSON goes through iter_articles."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    write_jsonl(folder / "wire.jsonl", make_articles(2))
    (folder / "story.txt").write_text(
        "Storm hits coast\n\nA powerful storm battered the coast on Tuesday night. "
        "Thousands of homes lost power.\n\nEmergency crews worked through the night.\n")
    code, out, err = run("index", "build", str(folder), "--index", str(tmp_path / "idx"))
    assert code == 0, err
    assert "added 3" in out


# --------------------------------------------------------------------------------------------
# crash safety: SIGKILL a writer at different moments; the old version must stay usable

_WRITER = """
import sys
from pathlib import Path
from index.embedding import HashingEmbedder
from index.pipeline import apply_changes
from index.settings import IndexSettings
sys.path.insert(0, {tests!r})
from test_store_support import synthetic_corpus
arts = synthetic_corpus({n}, seed=3)
apply_changes(arts, (), IndexSettings(index_dir=Path({idx!r})), HashingEmbedder())
"""


def _start_writer(idx: Path, n: int) -> subprocess.Popen[bytes]:
    code = _WRITER.format(tests=str(Path(__file__).parent), n=n, idx=str(idx))
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_for_tmp(idx: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if any(versions_dir(idx).glob(".tmp-*")):
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0, 2.5, "late"])
def test_sigkill_during_add_leaves_a_clean_index(tmp_path: Path, delay: float | str) -> None:
    from index.embedding import HashingEmbedder
    from index.pipeline import apply_changes
    from index.settings import IndexSettings

    idx = tmp_path / "idx"
    settings = IndexSettings(index_dir=idx)
    base = apply_changes(make_articles(5), (), settings, HashingEmbedder())

    n = 1500
    if delay == "late":
        # time a full run first, then kill near its end (FAISS/BM25 build, fsync, rename, CURRENT)
        probe = tmp_path / "probe"
        t0 = time.monotonic()
        proc = _start_writer(probe, n)
        proc.wait(timeout=120)
        total = time.monotonic() - t0
        kill_after = total * 0.93
    else:
        kill_after = float(delay)

    proc = _start_writer(idx, n)
    try:
        if delay == "late":
            time.sleep(kill_after)
        else:
            assert _wait_for_tmp(idx, proc), proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(kill_after)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    current = (idx / CURRENT_FILE).read_text().strip()
    assert current in list_versions(idx)
    assert verify_index(idx).ok
    with IndexReader.open(idx) as r:
        # either the old version or, if the kill came after publishing, the complete new one
        assert r.manifest.articles in (5, 5 + n)
        if r.version == base.version:
            assert r.manifest.articles == 5

    # the next writer cleans up and succeeds
    after = apply_changes([make_article(99)], (), settings, HashingEmbedder())
    assert after.published
    assert not list(versions_dir(idx).glob(".tmp-*"))
    assert verify_index(idx).ok


@pytest.mark.slow
def test_cli_add_subprocess_exit_codes(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    src = write_jsonl(tmp_path / "a.jsonl", synthetic_corpus(20), bad_lines=[3])
    env = {**os.environ, "NEWSBOT_MODEL": "hashing-test"}
    proc = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "index", "add",
                           str(src), "--index", str(idx)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "a.jsonl:3" in proc.stderr and "added 20" in proc.stdout


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_user_mistakes_are_one_line_errors_and_the_index_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_jsonl(tmp_path / "news.jsonl", make_articles(3))
    idx = tmp_path / "idx"
    assert run("index", "build", str(src), "--index", str(idx))[0] == 0
    not_utf8 = tmp_path / "questions.txt"
    not_utf8.write_bytes(b"who won?\n\xff\xfe what?\n")
    code, _, err = run("ask", "--questions", str(not_utf8), "--index", str(idx))
    assert code != 0 and one_line(err) == f"config error: --questions: {not_utf8}:2: not UTF-8 text (byte 9)"
    code, _, err = run("eval", "--qa", str(not_utf8), "--index", str(idx))
    assert code != 0 and "--qa" in one_line(err) and ":2: not UTF-8" in err
    # --index naming a file, for reading and for writing
    for args in (("ask", "who?"), ("index", "add", str(src))):
        code, _, err = run(*args, "--index", str(src))
        assert code != 0 and one_line(err).endswith(f"{src} is a file, not an index folder")
    monkeypatch.setenv("NEWSBOT_CHUNK_OVERLAP_SENTENCES", "-1")
    code, _, err = run("index", "add", str(src), "--index", str(idx))
    assert code != 0 and one_line(err).startswith("config error: NEWSBOT_CHUNK_OVERLAP_SENTENCES:")
    monkeypatch.delenv("NEWSBOT_CHUNK_OVERLAP_SENTENCES")
    # other URL schemes are refused as schemes, and the good source beside them still counts
    more = write_jsonl(tmp_path / "more.jsonl", [make_article(10)])
    code, out, err = run("index", "add", "file:///etc/passwd", "gopher://x.example/", str(more),
                         "--index", str(idx))
    assert code == 1
    assert "file:///etc/passwd: unsupported URL scheme 'file': only http and https" in err
    assert "gopher://x.example/: unsupported URL scheme 'gopher'" in err
    assert out.startswith("added 1,")
    assert verify_index(idx).ok


def test_a_url_field_that_is_not_a_link_is_ignored(tmp_path: Path) -> None:
    src = tmp_path / "n.jsonl"
    src.write_text(
        json.dumps({"title": "Numeric", "body": "The council met. It agreed.", "url": 12345}) + "\n"
        + json.dumps({"title": "Word", "body": "The mayor spoke. She left.", "url": "homepage"}) + "\n"
    )
    idx = tmp_path / "idx"
    assert run("index", "build", str(src), "--index", str(idx))[0] == 0
    with IndexReader.open(idx) as reader:
        arts = reader.latest_articles(5)
    assert all(a.url is None and a.id.startswith("sha256:") for a in arts)


def test_mistakes_fail_before_the_model_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the model was loaded before a cheap check failed")

    monkeypatch.setattr("index.embedding.load_embedder", no_model)
    monkeypatch.setattr("retrieval.answerer.load_embedder", no_model)
    code, _, err = run("index", "add", "missing.txt", "--index", str(tmp_path / "idx"))
    assert code == 2 and one_line(err) == (
        "ingest error: missing.txt: no such file or directory; the index was not changed")
    assert not (tmp_path / "idx").exists()
    code, _, err = run("index", "add", "file:///etc/passwd", "--index", str(tmp_path / "idx"))
    assert code == 2 and one_line(err) == ("ingest error: file:///etc/passwd: unsupported URL scheme 'file': "
                                           "only http and https; the index was not changed")
    code, _, err = run("ask", "who won?", "--index", str(tmp_path / "nope"))
    assert code == 2 and one_line(err).startswith("index not found: no index at")
    code, _, err = run("ask", "   ", "--index", str(tmp_path / "nope"))
    assert code == 2 and one_line(err).startswith("config error: the question is empty")


def test_other_files_in_a_folder_are_one_note_each_not_failures(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    (folder / "sub").mkdir(parents=True)
    (folder / "story.txt").write_text("Harbour reopens\n\nThe harbour reopened on Monday. Boats returned.\n")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "sub" / "report.pdf").write_bytes(b"%PDF-1.4")
    (folder / "LICENSE").write_text("MIT")
    (folder / ".hidden.csv").write_text("a,b")
    code, out, err = run("index", "build", str(folder), "--index", str(tmp_path / "idx"))
    assert code == 0, err
    assert "added 1," in out and "failed 0" in out
    notes = err.splitlines()
    assert sorted(notes) == sorted([
        f"note: {folder / 'LICENSE'}: skipped: '(no extension)' is not an article format "
        "(.atom, .htm, .html, .json, .jsonl, .markdown, .md, .ndjson, .rss, .txt, .xhtml, .xml)",
        f"note: {folder / 'photo.png'}: skipped: '.png' is not an article format "
        "(.atom, .htm, .html, .json, .jsonl, .markdown, .md, .ndjson, .rss, .txt, .xhtml, .xml)",
        f"note: {folder / 'sub' / 'report.pdf'}: skipped: '.pdf' is not an article format "
        "(.atom, .htm, .html, .json, .jsonl, .markdown, .md, .ndjson, .rss, .txt, .xhtml, .xml)",
    ])


def test_add_of_an_empty_folder_with_no_index_yet_is_an_error_not_silent_success(tmp_path: Path) -> None:
    empty = tmp_path / "articles"
    empty.mkdir()
    idx = tmp_path / "idx"
    code, out, err = run("index", "add", str(empty), "--index", str(idx))
    assert code == 2 and out == ""
    assert err.strip() == f"ingest error: {empty}: no articles found; the index was not changed"
    # with an index, an add that finds nothing new is fine
    run("index", "build", str(write_jsonl(tmp_path / "a.jsonl", make_articles(2))), "--index", str(idx))
    code, out, _ = run("index", "add", str(empty), "--index", str(idx))
    assert code == 0 and out.startswith("added 0,")


def test_version_and_short_help_on_every_command() -> None:
    from importlib.metadata import version

    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"newsbot {version('newsbot')}"
    for args in (["-h"], ["index", "-h"], ["index", "build", "-h"], ["index", "rollback", "-h"],
                 ["ask", "-h"], ["bot", "-h"]):
        code, out, _ = run(*args)
        assert code == 0 and "Usage: newsbot" in out, args
