"""The store as retrieval and the pipeline see it, on BOTH backends: FAISS + SQLite + bm25s
files, and Milvus (Milvus Lite, a real local Milvus: no mock).  Every test here runs twice
through the ``backend`` fixture; what is Milvus-only lives in ``test_milvus_*.py``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from test_store_support import CountingEmbedder, make_article, make_articles, settings_for

from index.embedding import HashingEmbedder
from index.errors import ConfigError, IndexNotFoundError, IngestError, ModelMismatchError
from index.models import ModelInfo
from index.pipeline import apply_changes
from index.settings import IndexSettings
from index.store import (
    StoreReader,
    kept_store_versions,
    open_store_reader,
    published_version,
    rollback_store,
    verify_store,
)
from retrieval.answerer import Answerer
from retrieval.models import Filters
from retrieval.settings import RetrievalSettings


@pytest.fixture(params=["faiss", "milvus"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> IndexSettings:
    return settings_for(tmp_path / "idx", backend=backend)


@pytest.fixture
def built(settings: IndexSettings, hashing_embedder: HashingEmbedder) -> IndexSettings:
    arts = make_articles(12)
    arts[3] = make_article(3, source="BBC News")
    report = apply_changes(arts, (), settings, hashing_embedder)
    assert report.published and report.added == 12
    return settings


@pytest.fixture
def reader(built: IndexSettings, hashing_embedder: HashingEmbedder) -> Iterator[StoreReader]:
    r = open_store_reader(built.index_dir, built, hashing_embedder.info)
    yield r
    r.close()


def test_dense_search_and_fetch(reader: StoreReader, hashing_embedder: HashingEmbedder) -> None:
    assert reader.manifest.articles == 12
    q = hashing_embedder.encode(["snow blizzards Scotland roads"])[0]
    top = reader.search_chunks(q, 3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    chunk = reader.get_chunks([top[0][0]])[0]
    art = reader.get_articles([chunk.article_id])[chunk.article_id]
    assert "snow" in art.body and chunk.text == art.body[chunk.start : chunk.end]
    sents = reader.sentences_of_chunk(chunk.id)
    assert [s.position for s in sents] == list(range(chunk.first_sentence, chunk.last_sentence + 1))
    for s in sents:
        assert s.text == art.body[s.start : s.end]

    s_top = reader.search_sentences(hashing_embedder.encode(["blizzards freezing temperatures"])[0], 1)
    best = reader.get_sentences([s_top[0][0]])[0]
    assert "blizzards" in best.text
    vec = reader.sentence_vectors([best.id])
    assert np.allclose(vec[0], hashing_embedder.encode([best.text])[0], atol=1e-6)
    with pytest.raises(KeyError):
        reader.sentence_vectors([10**9])

    ids = [s.id for s in sents][::-1]
    assert [s.id for s in reader.get_sentences([*ids, 10**9])] == ids
    assert [s.position for s in reader.sentences_of_article(chunk.article_id, 1, 2)] == [1, 2]
    assert len(reader.sentences_of_article(chunk.article_id)) == 4
    pairs = reader.id_articles("sentences")
    assert len(pairs) == reader.manifest.sentences and pairs == sorted(pairs)


def test_sentences_of_articles_is_one_fetch_of_many_ranges(reader: StoreReader) -> None:
    ranges = [("art-2", 1, 2), ("art-0", 0, 0), ("art-2", 2, 3), ("art-5", 3, 99), ("missing", 0, 5)]
    got = reader.sentences_of_articles(ranges)
    assert [(s.article_id, s.position) for s in got] == [
        ("art-0", 0), ("art-2", 1), ("art-2", 2), ("art-2", 3), ("art-5", 3)]
    one_by_one = {s.id: s for aid, lo, hi in ranges for s in reader.sentences_of_article(aid, lo, hi)}
    assert {s.id: s.text for s in got} == {i: s.text for i, s in one_by_one.items()}
    assert reader.sentences_of_articles([]) == []
    # the vectors of what was fetched (Milvus keeps them from the fetch; FAISS copies them out)
    ids = [s.id for s in got]
    assert reader.sentence_vectors(ids).shape == (len(ids), reader.manifest.model.dimension)
    with pytest.raises(KeyError):
        reader.sentence_vectors([*ids, 10**9])


def test_both_backends_give_the_same_answers_and_vectors(tmp_path: Path, hashing_embedder: HashingEmbedder,
                                                         hashing_settings: RetrievalSettings) -> None:
    questions = ["How much did quarterly profits at the media giant jump?",
                 "What happened to the snow roads?", "Which wire reported on the report number?"]
    filters = [Filters(), Filters(since=date(2024, 1, 6)), Filters(sources=["bbc"])]
    got: dict[str, list[tuple[bool, list[int], list[int]]]] = {}
    vectors: dict[str, np.ndarray] = {}
    for name in ("faiss", "milvus"):
        s = settings_for(tmp_path / name, backend=name)
        arts = make_articles(12)
        arts[3] = make_article(3, source="BBC News")
        apply_changes(arts, (), s, hashing_embedder)
        r = open_store_reader(s.index_dir, s)
        try:
            a = Answerer(s.index_dir, settings=hashing_settings, embedder=hashing_embedder, reader=r)
            # each question unfiltered and filtered, twice (the second time from warm caches)
            answers = [a.ask(q, filters=f) for _ in range(2) for q in questions for f in filters]
            assert any(x.sentences for x in answers[1::3]) and any(x.sentences for x in answers[2::3])
            got[name] = [(x.answered, [c.sentence_id for c in x.sentences],
                          [c.sentence_id for c in x.alternatives]) for x in answers]
            vectors[name] = r.sentence_vectors([i for i, _ in r.id_articles("sentences")])
        finally:
            r.close()
    assert got["faiss"] == got["milvus"]
    assert np.allclose(vectors["faiss"], vectors["milvus"], atol=1e-6)


def test_lexical_search_and_filters(reader: StoreReader) -> None:
    hits = reader.bm25_sentences("who made 1.13bn", 5)
    assert hits and all(s > 0 for _, s in hits)
    assert "1.13bn" in reader.get_sentences([hits[0][0]])[0].text
    assert reader.bm25_sentences("286 clinics", 1)
    assert reader.bm25_chunks("zzzunknownword", 5) == []
    assert reader.bm25_chunks("the and of", 5) == []  # stopwords only: no terms

    bbc = reader.chunk_ids_matching(None, None, ["bbc"])
    assert {c.article_id for c in reader.get_chunks(bbc)} == {"art-3"}
    assert {h[0] for h in reader.bm25_chunks("report number", 10, bbc)} <= set(bbc.tolist())
    q = np.ones(reader.manifest.model.dimension, dtype=np.float32)
    q /= np.linalg.norm(q)
    assert {h[0] for h in reader.search_chunks(q, 10, bbc)} <= set(bbc.tolist())
    assert reader.search_chunks(q, 10, np.array([], dtype=np.int64)) == []
    assert len(reader.chunk_ids_matching(None, None, ["no such wire"])) == 0

    since = datetime(2024, 1, 10, tzinfo=UTC)
    recent = reader.sentence_ids_matching(since, None, None)
    assert {s.article_id for s in reader.get_sentences(recent)} == {"art-9", "art-10", "art-11"}
    window = reader.sentence_ids_matching(since, datetime(2024, 1, 10, 23, tzinfo=UTC), ["wire"])
    assert {s.article_id for s in reader.get_sentences(window)} == {"art-9"}
    # ids picked by hand (not from a filter) restrict a search too
    some = np.asarray(sorted(recent.tolist())[:2], dtype=np.int64)
    assert {h[0] for h in reader.search_sentences(q, 10, some)} == set(some.tolist())
    assert len(reader.chunk_ids_matching(None, None, None)) == reader.manifest.chunks
    assert reader.undated_articles() == 0


def test_about_latest_and_list(reader: StoreReader) -> None:
    about = reader.about()
    assert (about.articles, about.model.name, about.dimension) == (12, "hashing-test", 256)
    assert {s.name for s in about.sources} == {"Test Wire", "BBC News"}
    assert about.earliest == datetime(2024, 1, 1, tzinfo=UTC)
    assert about.latest == datetime(2024, 1, 12, tzinfo=UTC)
    assert about.version == reader.version
    assert about.size_bytes > 0  # `index stats` shows what the index takes on disk
    assert [a.id for a in reader.latest_articles(2)] == ["art-11", "art-10"]
    listing = reader.list_articles(3)
    assert [a.id for a in listing] == ["art-11", "art-10", "art-9"]
    assert [a.id for a in reader.list_articles(source="BBC News")] == ["art-3"]


def test_idf_is_the_same_on_both_backends(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    terms = ["snow", "report", "1.13bn", "zzzunknown"]
    got = {}
    for name in ("faiss", "milvus"):
        s = settings_for(tmp_path / name, backend=name)
        apply_changes(make_articles(12), (), s, hashing_embedder)
        r = open_store_reader(s.index_dir, s)
        try:
            got[name] = r.idf_sentences(terms)
        finally:
            r.close()
    assert got["faiss"] == pytest.approx(got["milvus"])
    assert got["milvus"]["zzzunknown"] > got["milvus"]["snow"] > got["milvus"]["report"]


def test_add_update_remove_and_hot_reload(built: IndexSettings, hashing_embedder: HashingEmbedder) -> None:
    old = open_store_reader(built.index_dir, built)
    try:
        changed = make_article(5, extra="Ploughs cleared the Cairngorm pass by noon.")
        report = apply_changes([make_article(20), changed], ["art-7"], built, hashing_embedder)
        assert (report.added, report.replaced, report.removed) == (1, 1, 1)
        assert old.newer_version_available()
        assert old.manifest.articles == 12 and old.get_articles(["art-7"])  # keeps its version
        new = open_store_reader(built.index_dir, built)
        try:
            assert new.version == report.version and not new.newer_version_available()
            assert new.manifest.articles == 12
            assert set(new.get_articles(["art-7", "art-20"])) == {"art-20"}
            hits = new.bm25_sentences("Cairngorm pass", 3)
            assert new.get_sentences([hits[0][0]])[0].article_id == "art-5"
            assert sorted(a for _, a in new.id_articles("chunks")).count("art-5") >= 1
        finally:
            new.close()
    finally:
        old.close()
    assert verify_store(built.index_dir, built).ok


def test_unchanged_rebuild_reencodes_nothing(settings: IndexSettings) -> None:
    emb = CountingEmbedder()
    apply_changes(make_articles(6), (), settings, emb)
    first = emb.encoded
    assert first > 0
    report = apply_changes(make_articles(6), (), settings, emb, replace_all=True)
    assert emb.encoded == first and report.embedded_texts == 0 and not report.published
    # a changed article re-encodes only its new text; the rest is reused from the store
    report = apply_changes([make_article(2, extra="A late goal sealed it.")], (), settings, emb)
    assert report.published and 0 < report.embedded_texts <= 2 and report.reused_embeddings > 0
    assert verify_store(settings.index_dir, settings).ok


def test_model_mismatch_and_missing_index(built: IndexSettings, tmp_path: Path) -> None:
    with pytest.raises(ModelMismatchError):
        open_store_reader(built.index_dir, built, ModelInfo(name="other-model", dimension=256))
    empty = settings_for(tmp_path / "none", backend=built.backend)
    with pytest.raises(IndexNotFoundError):
        open_store_reader(empty.index_dir, empty)
    assert published_version(empty.index_dir, empty) is None


def test_versions_keep_n_and_rollback(settings: IndexSettings, hashing_embedder: HashingEmbedder) -> None:
    s = settings.model_copy(update={"keep_versions": 1})
    names = []
    for i in range(4):
        report = apply_changes([make_article(i)], (), s, hashing_embedder)
        names.append(report.version)
    kept = kept_store_versions(s.index_dir, s)
    assert [v.name for v in kept] == names[-2:] and [v.current for v in kept] == [False, True]

    back = rollback_store(s.index_dir, None, s)
    assert (back.previous, back.current, back.articles) == (names[3], names[2], 3)
    assert published_version(s.index_dir, s) == names[2]
    r = open_store_reader(s.index_dir, s)
    try:
        assert r.manifest.articles == 3 and r.version == names[2]
    finally:
        r.close()
    assert verify_store(s.index_dir, s).ok
    forward = rollback_store(s.index_dir, names[3], s)
    assert forward.current == names[3]
    with pytest.raises(ConfigError, match="kept"):
        rollback_store(s.index_dir, names[0], s)


def test_answerer_asks_filters_and_hot_reloads_on_either_backend(
        built: IndexSettings, hashing_embedder: HashingEmbedder, hashing_settings: RetrievalSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_BACKEND", built.backend)
    answerer = Answerer(built.index_dir, settings=hashing_settings, embedder=hashing_embedder)
    try:
        ans = answerer.ask("How much did quarterly profits at the media giant jump?")
        assert ans.sentences and "1.13bn" in ans.sentences[0].text
        only_bbc = answerer.ask("Which wire reported on the report number?", filters=Filters(sources=["bbc"]))
        assert {s.article_id for s in only_bbc.sentences} <= {"art-3"}
        late = answerer.ask("What happened to the snow roads?", filters=Filters(since=date(2024, 1, 10)))
        assert {s.article_id for s in late.sentences} <= {"art-9", "art-10", "art-11"}
        passage = answerer.context(ans.sentences[0].sentence_id, 1)
        assert any(p.cited for p in passage.sentences)

        old_version = answerer.reader.version
        assert not answerer.reload_if_newer()
        apply_changes([make_article(30)], (), built, hashing_embedder)
        assert answerer.reload_if_newer() and answerer.reader.version != old_version
    finally:
        answerer.reader.close()


@pytest.mark.parametrize("index_type", ["hnsw", "ivf"])
def test_approximate_index_types(settings: IndexSettings, hashing_embedder: HashingEmbedder,
                                 index_type: str) -> None:
    report = apply_changes(make_articles(12), (), settings, hashing_embedder, index_type=index_type)
    r = open_store_reader(settings.index_dir, settings)
    try:
        # Milvus Lite builds no HNSW and its IVF loses hits past ~65,000 rows: it stays exact,
        # and the manifest says so
        assert r.manifest.index_type == ("flat" if settings.backend == "milvus" else index_type)
        q = hashing_embedder.encode(["blizzards freezing temperatures"])[0]
        best = r.get_sentences([r.search_sentences(q, 1)[0][0]])[0]
        assert "blizzards" in best.text
        assert r.version == report.version
    finally:
        r.close()
    assert verify_store(settings.index_dir, settings).ok


def test_a_first_build_that_finds_nothing_leaves_no_index_folder(settings: IndexSettings,
                                                                 hashing_embedder: HashingEmbedder) -> None:
    with pytest.raises(IngestError, match="no articles found"):
        apply_changes([], (), settings, hashing_embedder, replace_all=True, require_articles=True)
    assert not settings.index_dir.exists()
    assert published_version(settings.index_dir, settings) is None
