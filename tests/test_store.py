"""The on-disk index as the retrieval layer sees it: IndexReader, versions, verify."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from test_store_support import make_article, make_articles, settings_for

from index.embedding import HashingEmbedder
from index.errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, ModelMismatchError
from index.lexical import tokenize
from index.models import ModelInfo
from index.pipeline import apply_changes
from index.store import (
    CURRENT_FILE,
    IndexLock,
    IndexReader,
    StagedVersion,
    list_versions,
    verify_index,
    versions_dir,
)


@pytest.fixture
def built(tmp_path: Path, hashing_embedder: HashingEmbedder) -> Path:
    index_dir = tmp_path / "idx"
    arts = make_articles(12)
    arts[3] = make_article(3, source="BBC News")
    report = apply_changes(arts, (), settings_for(index_dir), hashing_embedder)
    assert report.published and report.added == 12
    return index_dir


def test_tokenizer_keeps_numbers_and_stems_words() -> None:
    toks = tokenize("Profits jumped 76% to $1.13bn, and 1,000 of the 286 shops were running.")
    assert {"1.13bn", "76", "1000", "286"} <= set(toks)
    assert "profit" in toks and "run" in toks
    assert "the" not in toks and "and" not in toks
    assert tokenize("PROFITS") == tokenize("profit")


def test_reader_searches_and_fetches(built: Path, hashing_embedder: HashingEmbedder) -> None:
    with IndexReader.open(built, hashing_embedder.info) as r:
        assert r.manifest.articles == 12 and r.version == (built / CURRENT_FILE).read_text().strip()
        q = hashing_embedder.encode(["snow blizzards Scotland roads"])[0]
        top = r.search_chunks(q, 3)
        assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
        chunk = r.get_chunks([top[0][0]])[0]
        art = r.get_articles([chunk.article_id])[chunk.article_id]
        assert "snow" in art.body and chunk.text == art.body[chunk.start : chunk.end]

        sents = r.sentences_of_chunk(chunk.id)
        assert [s.position for s in sents] == list(range(chunk.first_sentence, chunk.last_sentence + 1))
        for s in sents:
            assert s.text == art.body[s.start : s.end] and s.text.strip() == s.text

        s_top = r.search_sentences(hashing_embedder.encode(["blizzards freezing temperatures"])[0], 1)
        best = r.get_sentences([s_top[0][0]])[0]
        assert "blizzards" in best.text
        vec = r.sentence_vectors([best.id])
        assert vec.shape == (1, hashing_embedder.info.dimension)
        assert np.allclose(vec[0], hashing_embedder.encode([best.text])[0], atol=1e-6)

        # order of ids is preserved, unknown ids are left out
        ids = [s.id for s in sents][::-1]
        assert [s.id for s in r.get_sentences([*ids, 10**9])] == ids

        middle = r.sentences_of_article(chunk.article_id, 1, 2)
        assert [s.position for s in middle] == [1, 2]
        assert len(r.sentences_of_article(chunk.article_id)) == len(
            r.sentences_of_article(chunk.article_id, 0, None))


def test_bm25_matches_figures_and_filters(built: Path) -> None:
    with IndexReader.open(built) as r:
        hits = r.bm25_sentences("who made 1.13bn", 5)
        assert hits
        assert "1.13bn" in r.get_sentences([hits[0][0]])[0].text
        assert r.bm25_sentences("286 clinics", 1)
        assert r.bm25_chunks("zzzunknownword", 5) == []

        bbc = r.chunk_ids_matching(None, None, ["bbc"])
        assert len(bbc) >= 1
        assert {c.article_id for c in r.get_chunks(bbc)} == {"art-3"}
        assert all(h[0] in set(bbc.tolist()) for h in r.bm25_chunks("report number", 10, bbc))
        q = np.ones(r.manifest.model.dimension, dtype=np.float32)
        q /= np.linalg.norm(q)
        assert {h[0] for h in r.search_chunks(q, 10, bbc)} <= set(bbc.tolist())
        assert r.search_chunks(q, 10, np.array([], dtype=np.int64)) == []

        since = datetime(2024, 1, 10, tzinfo=UTC)
        recent = r.sentence_ids_matching(since, None, None)
        arts = {s.article_id for s in r.get_sentences(recent)}
        assert arts == {"art-9", "art-10", "art-11"}
        assert len(r.chunk_ids_matching(None, None, None)) == r.manifest.chunks


def test_about_and_latest(built: Path, hashing_embedder: HashingEmbedder) -> None:
    with IndexReader.open(built) as r:
        about = r.about()
        assert (about.articles, about.model.name, about.dimension) == (12, "hashing-test", 256)
        assert {s.name for s in about.sources} == {"Test Wire", "BBC News"}
        assert about.earliest == datetime(2024, 1, 1, tzinfo=UTC)
        assert about.latest == datetime(2024, 1, 12, tzinfo=UTC)
        assert about.size_bytes > 0
        assert [a.id for a in r.latest_articles(2)] == ["art-11", "art-10"]


def test_open_errors(tmp_path: Path, built: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(tmp_path / "nothing-here")
    other = ModelInfo(name="all-MiniLM-L6-v2", dimension=384)
    with pytest.raises(ModelMismatchError) as exc:
        IndexReader.open(built, other)
    msg = exc.value.one_line()
    assert "hashing-test" in msg and "all-MiniLM-L6-v2" in msg and "newsbot index build" in msg


def test_reader_keeps_its_version_and_sees_newer(built: Path, hashing_embedder: HashingEmbedder) -> None:
    reader = IndexReader.open(built)
    try:
        old_version = reader.version
        assert not reader.newer_version_available()
        apply_changes([make_article(100, "space")], ["art-0"], settings_for(built), hashing_embedder)
        assert reader.newer_version_available()
        # the old reader still answers from its own version, including the removed article
        assert reader.get_articles(["art-0"])
        assert "art-100" not in reader.get_articles(["art-100"])
        assert reader.version == old_version
        with IndexReader.open(built) as fresh:
            assert fresh.version != old_version
            assert "art-100" in fresh.get_articles(["art-100"])
            assert not fresh.get_articles(["art-0"])
            assert not fresh.newer_version_available()
    finally:
        reader.close()


def test_stale_tmp_is_ignored_and_cleaned(built: Path, hashing_embedder: HashingEmbedder) -> None:
    stale = versions_dir(built) / ".tmp-deadbeef"
    stale.mkdir()
    (stale / "meta.sqlite").write_bytes(b"half written")
    with IndexReader.open(built) as r:
        assert r.manifest.articles == 12
    assert verify_index(built).ok
    apply_changes([make_article(50)], (), settings_for(built), hashing_embedder)
    assert not stale.exists()


def test_old_versions_are_pruned(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    index_dir = tmp_path / "idx"
    settings = settings_for(index_dir, keep_versions=1)
    for i in range(4):
        apply_changes([make_article(i)], (), settings, hashing_embedder)
    names = list_versions(index_dir)
    assert len(names) == 2 and names[-1] == (index_dir / CURRENT_FILE).read_text().strip()


def test_writer_lock_is_exclusive(built: Path, hashing_embedder: HashingEmbedder) -> None:
    with IndexLock(built), pytest.raises(IndexLockedError) as exc:
        apply_changes([make_article(60)], (), settings_for(built), hashing_embedder, lock_timeout=0.2)
    assert "another process" in str(exc.value)
    # released: the next writer gets in
    assert apply_changes([make_article(60)], (), settings_for(built), hashing_embedder).added == 1


def _version_path(index_dir: Path) -> Path:
    return versions_dir(index_dir) / (index_dir / CURRENT_FILE).read_text().strip()


def test_verify_ok(built: Path) -> None:
    result = verify_index(built)
    assert result.ok, result.reason
    assert {"manifest", "metadata", "faiss", "bm25"} <= set(result.checked)


def test_verify_catches_missing_faiss_file(built: Path) -> None:
    (_version_path(built) / "sentences.faiss").unlink()
    result = verify_index(built)
    assert not result.ok and "sentences.faiss" in (result.reason or "")
    with pytest.raises(IndexCorruptError):
        IndexReader.open(built)


def test_verify_catches_garbled_faiss_file(built: Path) -> None:
    path = _version_path(built) / "chunks.faiss"
    path.write_bytes(path.read_bytes()[:100])
    result = verify_index(built)
    assert not result.ok and "chunks.faiss" in (result.reason or "")
    with pytest.raises(IndexCorruptError):
        IndexReader.open(built)


def test_verify_catches_count_mismatch(built: Path) -> None:
    mpath = _version_path(built) / "manifest.json"
    data = json.loads(mpath.read_text())
    data["chunks"] += 1
    mpath.write_text(json.dumps(data))
    result = verify_index(built)
    assert not result.ok and "chunks" in (result.reason or "")
    assert "\n" not in result.one_line()
    with pytest.raises(IndexCorruptError, match="counts disagree"):
        IndexReader.open(built)


def test_verify_catches_bad_manifest_and_missing_bm25(built: Path) -> None:
    shutil.rmtree(_version_path(built) / "bm25_sentences")
    result = verify_index(built)
    assert not result.ok and "bm25_sentences" in (result.reason or "")
    (_version_path(built) / "manifest.json").write_text("{not json")
    result = verify_index(built)
    assert not result.ok and "manifest" in (result.reason or "")
    with pytest.raises(IndexCorruptError):
        IndexReader.open(built)


def test_verify_catches_faiss_ids_not_in_metadata(built: Path, hashing_embedder: HashingEmbedder) -> None:
    import sqlite3

    meta = _version_path(built) / "meta.sqlite"
    conn = sqlite3.connect(meta)
    top = conn.execute("SELECT MAX(id) FROM chunks").fetchone()[0]
    conn.execute("UPDATE chunks SET id = ? WHERE id = ?", (top + 1000, top))
    conn.commit()
    conn.close()
    result = verify_index(built)
    assert not result.ok and "ids differ" in (result.reason or "")


@pytest.mark.parametrize("index_type", ["hnsw", "ivf"])
def test_approximate_index_types(tmp_path: Path, hashing_embedder: HashingEmbedder, index_type: str) -> None:
    index_dir = tmp_path / "idx"
    apply_changes(make_articles(120), (), settings_for(index_dir, index_type=index_type), hashing_embedder)
    assert verify_index(index_dir).ok
    with IndexReader.open(index_dir) as r:
        assert r.manifest.index_type == index_type
        q = hashing_embedder.encode(["rocket telescope orbit launch"])[0]
        top = r.get_chunks([r.search_chunks(q, 1)[0][0]])[0]
        assert "rocket" in top.text
        allowed = r.chunk_ids_matching(None, None, None)[:5]
        got = r.search_chunks(q, 3, allowed)
        assert got and {i for i, _ in got} <= set(allowed.tolist())


def test_reader_is_safe_to_share_between_threads(built: Path, hashing_embedder: HashingEmbedder) -> None:
    from concurrent.futures import ThreadPoolExecutor

    queries = ["snow Scotland", "profits shares", "rocket telescope", "band album", "flu hospitals"] * 8
    with IndexReader.open(built) as r:
        expected = {q: r.get_sentences([i for i, _ in r.search_sentences(hashing_embedder.encode([q])[0], 5)])
                    for q in set(queries)}

        def ask(q: str) -> bool:
            vec = hashing_embedder.encode([q])[0]
            got = r.get_sentences([i for i, _ in r.search_sentences(vec, 5)])
            r.bm25_sentences(q, 5)
            r.sentence_vectors([s.id for s in got])
            return got == expected[q]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(ask, queries))


def test_public_accessors_replace_private_state(built: Path) -> None:
    """What the bench and the answerer used to reach into privately: (id, article) pairs and
    the sentence-level BM25 index."""
    with IndexReader.open(built) as r:
        pairs = r.id_articles("chunks")
        assert [i for i, _ in pairs] == r.chunk_ids_matching(None, None, None).tolist()
        assert {a for _, a in pairs} == {f"art-{i}" for i in range(12)}
        sent_pairs = r.id_articles("sentences")
        assert len(sent_pairs) == r.manifest.sentences
        assert all(s.article_id == a for s, (_, a) in zip(r.get_sentences([i for i, _ in sent_pairs]),
                                                          sent_pairs, strict=True))
        assert r.lexical_sentences.num_docs == r.manifest.sentences
        assert r.lexical_chunks.num_docs == r.manifest.chunks
        with pytest.raises(ValueError):
            r.id_articles("articles")  # type: ignore[arg-type]


def test_reader_and_writer_implement_the_store_protocols(built: Path) -> None:
    from index.store import IndexWriter, StoreReader, StoreWriter

    with IndexReader.open(built) as r:
        reader: StoreReader = r
        assert reader.version == r.version
    with IndexWriter(built) as w:
        writer: StoreWriter[StagedVersion] = w
        staged = writer.stage()
        assert staged.distinct_inputs() > 0 and staged.counts()[0] == 12
        staged.discard()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE sentences SET article_id = 'gone' WHERE id = (SELECT MIN(id) FROM sentences)",
         "belong to no article"),
        ('UPDATE sentences SET "end" = 1000000 WHERE id = (SELECT MIN(id) FROM sentences)',
         "offsets outside their article body"),
        ("DELETE FROM embeddings WHERE text_hash = (SELECT text_hash FROM sentences LIMIT 1)",
         "no stored embedding"),
    ],
)
def test_verify_digs_deeper_than_the_reader(built: Path, sql: str, reason: str) -> None:
    import sqlite3

    conn = sqlite3.connect(_version_path(built) / "meta.sqlite")
    conn.execute(sql)
    conn.commit()
    conn.close()
    result = verify_index(built)
    assert not result.ok and reason in (result.reason or ""), result.reason
    assert result.checked == ["manifest"]
