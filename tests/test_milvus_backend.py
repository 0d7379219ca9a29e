"""What only the Milvus backend has: Milvus Lite's one-process rule, SIGKILL of a writer
between its collections and publishing, and the CLI end to end (build, ask, verify)
giving the same answer as FAISS.  Real Milvus Lite and real subprocesses, no mock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from feed_server import FeedServer
from test_store_support import make_article, make_articles, settings_for
from typer.testing import CliRunner

from bot.cli import app
from index.embedding import HashingEmbedder
from index.errors import IndexCorruptError, IndexLockedError
from index.live.watch import watch
from index.pipeline import apply_changes
from index.sources.settings import LiveSettings
from index.store import open_store_reader, published_version, verify_store
from index.store.backend import milvus_target
from index.store.milvus import rows
from index.store.milvus.catalog import unfinished_collections
from index.store.milvus.connection import LITE_FILE, LITE_LOCK_GRACE_S, connect, disconnect, lite_files
from index.store.milvus.pointer import current_version, publish_version
from index.store.milvus.reader import MilvusReader
from retrieval.answerer import Answerer
from retrieval.settings import RetrievalSettings

TESTS = Path(__file__).resolve().parent


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.05)


HOLD = """
import sys, time
from pathlib import Path
from index.store.backend import milvus_target
from index.store.milvus.connection import connect
from index.settings import IndexSettings
idx = Path(sys.argv[1])
client = connect(milvus_target(idx, IndexSettings(index_dir=idx, backend="milvus")))
Path(sys.argv[2]).write_text("open")
time.sleep(120)
"""


def test_a_second_process_on_a_lite_file_is_one_clear_line(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    idx.mkdir()
    marker = tmp_path / "open"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(idx), str(marker)], cwd=TESTS.parent,
                            stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)
        settings = settings_for(idx, backend="milvus")
        t0 = time.monotonic()
        with pytest.raises(IndexLockedError) as err:
            connect(milvus_target(idx, settings))
        assert time.monotonic() - t0 < 5
        line = err.value.one_line()
        assert "\n" not in line and "Milvus Lite" in line and "http://host:19530" in line
    finally:
        proc.kill()
        proc.wait()


BRIEF_HOLD = """
import fcntl, sys, time
from pathlib import Path
with open(sys.argv[1], "a") as fh:
    fcntl.lockf(fh, fcntl.LOCK_EX)
    Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
"""


def test_a_lock_let_go_within_the_grace_is_waited_for(tmp_path: Path) -> None:
    """Restarting right after a crash: the killed process's Lite server may hold the lock a
    moment longer; opening waits for it (up to LITE_LOCK_GRACE_S) instead of failing."""
    idx = tmp_path / "idx"
    idx.mkdir()
    target = milvus_target(idx, settings_for(idx, backend="milvus"))
    lock = lite_files(idx / LITE_FILE)[1]  # the child makes and holds it, as a Lite server does
    marker = tmp_path / "held"
    hold_s = str(LITE_LOCK_GRACE_S / 4)
    proc = subprocess.Popen([sys.executable, "-c", BRIEF_HOLD, str(lock), str(marker), hold_s],
                            stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)
        client = connect(target)
        disconnect(target, client)
    finally:
        proc.wait()


# ---------------------------------------------------------------------------------------------
# SIGKILL while writing

CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from test_store_support import make_articles, settings_for
from index.embedding import HashingEmbedder
from index.pipeline import apply_changes
import index.store.milvus.publish as pub
import index.store.milvus.pointer as pointer

idx, where, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def stall():
    marker.write_text(where)
    time.sleep(600)

embedder = HashingEmbedder()
if where == "publish":  # the new version is complete, its pointer row not yet written
    def stalling_insert(*args, **kwargs):
        stall()
    pointer.MilvusClient.insert = stalling_insert
elif where == "manifest":  # every data collection of the new version is written and flushed
    create = pub._create
    def stalling_create(client, name, part, *rest):
        if part is None:
            stall()
        return create(client, name, part, *rest)
    pub._create = stalling_create
elif where == "insert":  # half-way through the new version's rows
    batches = pub._batches
    def stalling_batches(rows, size=pub._INSERT_ROWS):
        for i, batch in enumerate(batches(rows, 2)):
            if i == 3:
                stall()
            yield batch
    pub._batches = stalling_batches
else:  # while encoding
    class Stalling(HashingEmbedder):
        def encode(self, texts, batch_size=64):
            stall()
        def encode_late(self, texts, spans, batch_size=64):
            stall()
    embedder = Stalling()
apply_changes(make_articles(8, start=100), (), settings_for(idx, backend="milvus"), embedder)
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["encode", "insert", "manifest", "publish"])
def test_sigkill_while_writing_keeps_the_previous_version_published(
        tmp_path: Path, hashing_embedder: HashingEmbedder, where: str) -> None:
    idx = tmp_path / "idx"
    settings = settings_for(idx, backend="milvus")
    first = apply_changes(make_articles(12), (), settings, hashing_embedder)
    assert first.published

    marker = tmp_path / "stalled"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(idx), where, str(marker), str(TESTS)],
                            cwd=TESTS.parent, stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    assert published_version(idx, settings) == first.version
    assert verify_store(idx, settings).ok
    reader = open_store_reader(idx, settings)
    try:
        assert reader.version == first.version and reader.manifest.articles == 12
        assert not reader.newer_version_available()
    finally:
        reader.close()

    # the next writer drops what the killed one left and publishes normally
    report = apply_changes([make_article(50)], (), settings, hashing_embedder)
    assert report.published and report.articles == 13
    target = milvus_target(idx, settings)
    client = connect(target)
    try:
        assert unfinished_collections(client, target.prefix) == []
    finally:
        disconnect(target, client)
    assert verify_store(idx, settings).ok


PUBLISH_LOOP = """
import sys
from pathlib import Path
from index.settings import IndexSettings
from index.store.backend import milvus_target
from index.store.milvus.connection import connect
from index.store.milvus.pointer import publish_version
idx, marker = Path(sys.argv[1]), Path(sys.argv[2])
target = milvus_target(idx, IndexSettings(index_dir=idx, backend="milvus"))
client = connect(target)
for seq in range(1, 100_000):
    publish_version(client, target, f"v{seq:06d}-20261203T000000Z")
    if seq == 20:
        marker.write_text("publishing")
"""


@pytest.mark.slow
def test_sigkill_in_the_middle_of_publishing_leaves_a_whole_pointer(tmp_path: Path) -> None:
    """Milvus Lite has no aliases: the published version is the newest pointer row. Killed
    while it writes them back to back, the file reopens and names one whole, recent version."""
    idx = tmp_path / "idx"
    idx.mkdir()
    marker = tmp_path / "publishing"
    proc = subprocess.Popen([sys.executable, "-c", PUBLISH_LOOP, str(idx), str(marker)],
                            cwd=TESTS.parent, stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    target = milvus_target(idx, settings_for(idx, backend="milvus"))
    client = connect(target)
    try:
        name = current_version(client, target)
        assert name is not None and name.endswith("-20261203T000000Z")
        assert int(name[1:7]) >= 20
        publish_version(client, target, "v999999-20261203T000000Z")
        assert current_version(client, target) == "v999999-20261203T000000Z"
    finally:
        disconnect(target, client)


# ---------------------------------------------------------------------------------------------
# the command line, end to end


def _newsbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", *args],
                          env=env, cwd=TESTS.parent, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_build_ask_verify_give_the_faiss_answer_on_milvus(tmp_path: Path) -> None:
    from retrieval.cli import demo_article_files

    sources = [str(p) for p in demo_article_files()]
    question = "How much did Harbour Lights take in its first weekend?"
    answers, counts = {}, {}
    for backend in ("faiss", "milvus"):
        idx = tmp_path / backend
        env = {**os.environ, "NEWSBOT_MODEL": "hashing-test", "NEWSBOT_BACKEND": backend,
               "NEWSBOT_INDEX_DIR": str(idx), "NEWSBOT_READER_CANDIDATES": "0",
               "NEWSBOT_QUERY_RUNTIME": "torch"}
        build = _newsbot(env, "index", "build", *sources)
        assert build.returncode == 0, build.stderr
        ask = _newsbot(env, "ask", question, "--json")
        assert ask.returncode == 0, ask.stderr
        answers[backend] = json.loads(ask.stdout.strip().splitlines()[-1])
        verify = _newsbot(env, "index", "verify")
        assert verify.returncode == 0 and verify.stdout.startswith("ok:"), verify.stderr
        stats = _newsbot(env, "index", "stats", "--json")
        assert stats.returncode == 0, stats.stderr
        about = json.loads(stats.stdout)
        counts[backend] = (about["articles"], about["chunks"], about["sentences"])
    assert (tmp_path / "milvus" / "milvus.db").is_file() and not (tmp_path / "milvus" / "versions").exists()
    assert counts["milvus"] == counts["faiss"] and counts["faiss"][0] >= len(sources)
    faiss, milvus = answers["faiss"], answers["milvus"]
    assert milvus["sentences"] and milvus["sentences"][0]["text"] == faiss["sentences"][0]["text"]
    assert milvus["answered"] == faiss["answered"]


def test_verify_names_what_is_wrong_in_the_published_collections(
        tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    idx = tmp_path / "idx"
    settings = settings_for(idx, backend="milvus")
    report = apply_changes(make_articles(6), (), settings, hashing_embedder)
    assert verify_store(idx, settings).ok
    target = milvus_target(idx, settings)
    sentences = f"{target.prefix}__{str(report.version).replace('-', '_')}__sentences"
    client = connect(target)
    try:
        client.load_collection(sentences)
        row = client.query(sentences, filter="id == 2", output_fields=["*"])[0]
        row.pop("sparse", None)
        client.upsert(sentences, [{**row, "end": row["end"] + 10_000}])  # offsets past the body
        client.flush(sentences)
    finally:
        disconnect(target, client)
    result = verify_store(idx, settings)
    assert not result.ok and "offsets" in (result.reason or "")

    client = connect(target)
    try:
        client.load_collection(sentences)
        client.delete(sentences, filter="id == 3")
        client.flush(sentences)
    finally:
        disconnect(target, client)
    result = verify_store(idx, settings)
    assert not result.ok and "counts disagree" in (result.reason or "")


def test_watch_and_the_index_commands_work_on_milvus(
        srv: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = tmp_path / "idx"
    monkeypatch.setenv("NEWSBOT_BACKEND", "milvus")
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    monkeypatch.setenv("NEWSBOT_INDEX_DIR", str(idx))
    items = []
    for n, word in enumerate(["harbour", "airport"]):
        url = srv.page(f"/news/{n}", f"Fire at the {word} warehouse",
                       [f"Firefighters contained the blaze at the {word} warehouse on Sunday.",
                        f"The {word} building will stay closed for repairs."])
        items.append({"title": word, "link": url})
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(srv.feed("/feed.xml", "F", items[:1]) + "\n")
    settings = settings_for(idx, backend="milvus", allow_private_urls=True)
    live = LiveSettings(politeness_delay=0, fetch_timeout=2, max_redirects=3)
    reports = watch(feeds, settings, HashingEmbedder(), timedelta(0), None, 1, live=live)
    assert reports[0].articles_new == 1
    feeds.write_text(srv.feed("/feed2.xml", "F", items) + "\n")
    reports = watch(feeds, settings, HashingEmbedder(), timedelta(0), None, 1, live=live)
    assert reports[0].articles_new == 1

    runner = CliRunner()
    listed = runner.invoke(app, ["index", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert len(ids) == 2
    stats = runner.invoke(app, ["index", "stats"])
    assert stats.exit_code == 0 and "milvus" in stats.stdout and "articles   2" in stats.stdout
    removed = runner.invoke(app, ["index", "remove", ids[0]])
    assert removed.exit_code == 0, removed.output
    rolled = runner.invoke(app, ["index", "rollback", "--json"])
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.stdout)["articles"] == 2
    verified = runner.invoke(app, ["index", "verify"])
    assert verified.exit_code == 0 and verified.stdout.startswith("ok:")


def test_an_ask_is_four_searches_and_the_hits_rows_come_with_them(
        tmp_path: Path, hashing_embedder: HashingEmbedder, hashing_settings: RetrievalSettings) -> None:
    """Each search returns its hits' rows (no get_chunks/get_sentences query after it), and a
    question asked again queries nothing but its four searches: a version never changes, so
    the articles, sentences, vectors and term statistics fetched the first time are kept."""
    s = settings_for(tmp_path / "idx", backend="milvus")
    apply_changes(make_articles(12), (), s, hashing_embedder)
    r = open_store_reader(s.index_dir, s)
    assert isinstance(r, MilvusReader)
    calls: list[str] = []
    client = r._client
    for method in ("search", "query", "get", "hybrid_search", "query_iterator"):
        real = getattr(client, method)

        def counted(*args: object, _real: Any = real, _name: str = method, **kw: object) -> Any:
            calls.append(_name)
            return _real(*args, **kw)

        setattr(client, method, counted)
    try:
        a = Answerer(s.index_dir, settings=hashing_settings, embedder=hashing_embedder, reader=r)
        question = "How much did quarterly profits at the media giant jump?"
        first = a.ask(question)
        assert first.sentences and calls.count("search") == 4
        hits = r.search_chunks(hashing_embedder.encode([question])[0], 5)
        sentence_hits = r.bm25_sentences("quarterly profits", 5)
        calls.clear()
        chunks = r.get_chunks([i for i, _ in hits])
        sentences = r.get_sentences([i for i, _ in sentence_hits])
        assert calls == [] and [c.id for c in chunks] == [i for i, _ in hits]
        assert [x.id for x in sentences] == [i for i, _ in sentence_hits]
        calls.clear()
        again = a.ask(question)
        assert calls == ["search"] * 4
        assert [c.sentence_id for c in again.sentences] == [c.sentence_id for c in first.sentences]
    finally:
        r.close()


def test_filtered_ids_are_one_query_or_a_scan_past_the_window_and_kept(
        tmp_path: Path, hashing_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filter's ids come from one query while they fit in one result window, else from a
    paged scan (the same ids); a version never changes, so a filter asked again queries nothing."""
    s = settings_for(tmp_path / "idx", backend="milvus")
    apply_changes(make_articles(12), (), s, hashing_embedder)
    r = open_store_reader(s.index_dir, s)
    try:
        since = datetime(2024, 1, 6, tzinfo=UTC)
        one_query = r.sentence_ids_matching(since, None, None)
        all_ids = np.array(sorted(i for i, _ in r.id_articles("sentences")), dtype=np.int64)
        assert 0 < len(one_query) < len(all_ids) and set(one_query) <= set(all_ids)
        assert list(one_query) == sorted(one_query)
        paged = rows.ids_where(r._client, r._names["sentences"], "has_date == true")
        monkeypatch.setattr(rows, "QUERY_WINDOW", 5)
        assert list(rows.ids_where(r._client, r._names["sentences"], "has_date == true")) == list(paged)
        assert list(paged) == list(all_ids)
        monkeypatch.setattr(r._client, "query", None)  # asked again: from the reader's cache
        assert list(r.sentence_ids_matching(since, None, None)) == list(one_query)
    finally:
        monkeypatch.undo()
        r.close()


def test_a_milvus_lite_3_data_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    """Milvus Lite 3 kept a folder where Lite 2.5 keeps one file: say so, do not crash in it."""
    idx = tmp_path / "idx"
    (idx / "milvus.db").mkdir(parents=True)
    target = milvus_target(idx, settings_for(idx, backend="milvus"))
    with pytest.raises(IndexCorruptError, match="Milvus Lite 3 data folder") as err:
        connect(target)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_exact_search_on_milvus_lite_finds_the_true_top_k_past_one_segment(tmp_path: Path) -> None:
    """Milvus Lite 2.5's IVF_FLAT returned 12% of the true top 30 at 200,000 vectors; the
    index the store builds for exact search must find every true neighbour at any size."""
    from pymilvus import DataType, MilvusClient

    from index.store.milvus.schema import add_dense_index, dense_search_params

    n, dim, k = 100_000, 8, 30
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(n, 10, replace=False)] + 0.05
    target = milvus_target(tmp_path, settings_for(tmp_path, backend="milvus"))
    client = connect(target)
    try:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        params = MilvusClient.prepare_index_params()
        add_dense_index(params, "flat", n)
        client.create_collection("exact", schema=schema, index_params=params)
        for start in range(0, n, 1_000):
            client.insert("exact", [{"id": start + i, "vector": v}
                                    for i, v in enumerate(vectors[start : start + 1_000].tolist())])
        client.flush("exact")
        client.load_collection("exact")
        for q in queries:
            hits = client.search("exact", data=[q.tolist()], limit=k,
                                 search_params=dense_search_params("flat", k))
            want = set(np.argsort(-(vectors @ q))[:k].tolist())
            assert {int(h["id"]) for h in hits[0]} == want
    finally:
        disconnect(target, client)


def test_the_newest_pointer_row_is_published_and_old_rows_are_pruned(tmp_path: Path) -> None:
    """On Milvus Lite publishing adds a row: the newest names the version, also when it names
    an older one again (a rollback); old rows do not pile up."""
    target = milvus_target(tmp_path, settings_for(tmp_path, backend="milvus"))
    client = connect(target)
    try:
        assert current_version(client, target) is None
        for seq in range(1, 21):
            publish_version(client, target, f"v{seq:06d}-20261203T000000Z")
        assert current_version(client, target) == "v000020-20261203T000000Z"
        publish_version(client, target, "v000003-20261203T000000Z")
        assert current_version(client, target) == "v000003-20261203T000000Z"
        rows = client.query(target.pointer, filter="seq >= 0", output_fields=["count(*)"])
        assert rows[0]["count(*)"] <= 16
    finally:
        disconnect(target, client)
