"""Pipeline rules: duplicates, replacements, stable ids, embedding reuse, retention, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_store_support import CountingEmbedder, make_article, make_articles, settings_for

from index.embedding import HashingEmbedder
from index.errors import IngestError, ModelMismatchError
from index.models import Article
from index.pipeline import apply_changes
from index.store import CURRENT_FILE, IndexReader, verify_index


def _chunk_ids_of(index_dir: Path, article_id: str) -> list[int]:
    with IndexReader.open(index_dir) as r:
        ids = r.chunk_ids_matching(None, None, None)
        return [c.id for c in r.get_chunks(ids) if c.article_id == article_id]


def _sentence_ids_of(index_dir: Path, article_id: str) -> list[int]:
    with IndexReader.open(index_dir) as r:
        return [s.id for s in r.sentences_of_article(article_id)]


def test_add_remove_round_trip(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    r1 = apply_changes(make_articles(5), (), settings, hashing_embedder)
    assert (r1.added, r1.articles, r1.published) == (5, 5, True)
    assert r1.chunks >= 5 and r1.sentences >= 20
    r2 = apply_changes(make_articles(3, start=5), (), settings, hashing_embedder)
    assert (r2.added, r2.unchanged, r2.articles) == (3, 0, 8)
    r3 = apply_changes((), ["art-1", "art-6"], settings, None)
    assert (r3.removed, r3.articles) == (2, 6)
    assert verify_index(settings.index_dir).ok
    with IndexReader.open(settings.index_dir) as r:
        assert set(r.get_articles([f"art-{i}" for i in range(8)])) == {
            "art-0", "art-2", "art-3", "art-4", "art-5", "art-7"}
        assert r.manifest.chunks == len(r.chunk_ids_matching(None, None, None))
    assert "removed 2" in r3.summary_line() and r3.version in r3.summary_line()


def test_duplicates_are_stored_once(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    a = make_article(1)
    copy = Article(id="copy-of-1", title="Another headline", body=a.body.replace(" ", "  "))
    report = apply_changes([a, copy, make_article(2)], (), settings, hashing_embedder)
    assert (report.added, report.duplicates, report.articles) == (2, 1, 2)
    # the same body arriving later, under yet another id, is still a duplicate
    later = apply_changes([Article(id="again", body=a.body)], (), settings, hashing_embedder)
    assert (later.added, later.duplicates, later.published) == (0, 1, False)


def test_changed_article_replaces_and_other_ids_stay(
    tmp_path: Path, hashing_embedder: HashingEmbedder
) -> None:
    settings = settings_for(tmp_path / "idx")
    apply_changes(make_articles(4), (), settings, hashing_embedder)
    keep_chunks = _chunk_ids_of(settings.index_dir, "art-2")
    keep_sents = _sentence_ids_of(settings.index_dir, "art-2")
    old_chunks = _chunk_ids_of(settings.index_dir, "art-1")

    changed = make_article(1, extra="Update: the match was abandoned after a pitch invasion.")
    report = apply_changes([changed, make_article(2)], (), settings, hashing_embedder)
    assert (report.replaced, report.unchanged, report.added) == (1, 1, 0)
    assert _chunk_ids_of(settings.index_dir, "art-2") == keep_chunks
    assert _sentence_ids_of(settings.index_dir, "art-2") == keep_sents
    new_chunks = _chunk_ids_of(settings.index_dir, "art-1")
    assert new_chunks and not set(new_chunks) & set(old_chunks)
    with IndexReader.open(settings.index_dir) as r:
        assert "pitch invasion" in r.get_articles(["art-1"])["art-1"].body
        hit = r.bm25_sentences("pitch invasion abandoned", 1)[0][0]
        assert r.get_sentences([hit])[0].article_id == "art-1"
    assert verify_index(settings.index_dir).ok


def test_unchanged_input_publishes_nothing_and_encodes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "idx")
    emb = CountingEmbedder()
    first = apply_changes(make_articles(6), (), settings, emb)
    assert first.embedded_texts == emb.encoded > 0
    emb.encoded = 0
    again = apply_changes(make_articles(6), (), settings, emb, replace_all=True)
    assert (again.unchanged, again.published, again.embedded_texts, emb.encoded) == (6, False, 0, 0)
    assert again.version == first.version


def test_rebuild_reuses_stored_embeddings(tmp_path: Path) -> None:
    """A forced full rebuild (new FAISS type) re-encodes nothing: every vector is reused."""
    settings = settings_for(tmp_path / "idx")
    emb = CountingEmbedder()
    first = apply_changes(make_articles(8), (), settings, emb, replace_all=True)
    emb.encoded = 0
    rebuilt = apply_changes(make_articles(8), (), settings, emb, replace_all=True, index_type="hnsw")
    assert rebuilt.published and rebuilt.version != first.version
    assert (rebuilt.embedded_texts, emb.encoded) == (0, 0)
    # every distinct input (each chunk, each sentence) was stored and is reused
    assert rebuilt.reused_embeddings == first.chunks + first.sentences
    with IndexReader.open(settings.index_dir) as r:
        assert r.manifest.index_type == "hnsw"
    assert verify_index(settings.index_dir).ok


def test_changed_title_reuses_sentence_vectors_when_separate(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "idx", sentence_vectors="separate")
    emb = CountingEmbedder()
    apply_changes([make_article(1)], (), settings, emb)
    renamed = make_article(1).model_copy(update={"title": "A brand new headline"})
    emb.encoded = 0
    report = apply_changes([renamed], (), settings, emb)
    # sentences are embedded alone and did not change; chunks carry the title and did
    assert report.replaced == 1 and report.embedded_texts == report.chunks == emb.encoded
    assert report.reused_embeddings == report.sentences


def test_changed_title_rereads_each_chunk_once_when_late(tmp_path: Path) -> None:
    """Late chunking: a new headline is new context for every sentence, so the article's
    chunks are read again, once each, and its sentences' vectors come from that pass."""
    settings = settings_for(tmp_path / "idx")
    assert settings.sentence_vectors == "late"
    emb = CountingEmbedder()
    first = apply_changes([make_article(1)], (), settings, emb)
    assert first.embedded_texts == first.chunks == emb.encoded  # no second pass per sentence
    renamed = make_article(1).model_copy(update={"title": "A brand new headline"})
    emb.encoded = 0
    report = apply_changes([renamed], (), settings, emb)
    assert report.replaced == 1 and report.embedded_texts == report.chunks == emb.encoded
    assert report.reused_embeddings == 0
    assert verify_index(settings.index_dir).ok


def test_build_holds_only_its_sources(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    apply_changes(make_articles(5), (), settings, hashing_embedder)
    report = apply_changes(make_articles(3, start=3), (), settings, hashing_embedder, replace_all=True)
    assert (report.unchanged, report.added, report.removed, report.articles) == (2, 1, 3, 3)
    with IndexReader.open(settings.index_dir) as r:
        assert set(r.get_articles([f"art-{i}" for i in range(6)])) == {"art-3", "art-4", "art-5"}


def test_build_that_finds_nothing_keeps_the_good_index(
    tmp_path: Path, hashing_embedder: HashingEmbedder
) -> None:
    settings = settings_for(tmp_path / "idx")
    good = apply_changes(make_articles(3), (), settings, hashing_embedder)
    failures = [IngestError("feed.jsonl", "invalid JSON", 1), IngestError("feed.jsonl", "empty body", 2)]
    with pytest.raises(IngestError, match="no articles found"):
        apply_changes(failures, (), settings, hashing_embedder, replace_all=True, require_articles=True)
    assert (settings.index_dir / CURRENT_FILE).read_text().strip() == good.version
    assert verify_index(settings.index_dir).ok


def test_failures_are_listed_and_the_rest_is_indexed(
    tmp_path: Path, hashing_embedder: HashingEmbedder
) -> None:
    settings = settings_for(tmp_path / "idx")
    items: list[Article | IngestError] = [make_article(1), IngestError("a.jsonl", "invalid JSON", 7),
                                          make_article(2)]
    report = apply_changes(items, ["no-such-id"], settings, hashing_embedder)
    assert (report.added, report.failed) == (2, 2)
    assert any("a.jsonl:7" in f for f in report.failures)
    assert any("no-such-id" in f for f in report.failures)


def test_body_without_sentences_is_a_failure(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    report = apply_changes([Article(id="dots", body="... --- ..."), make_article(1)], (), settings,
                           hashing_embedder)
    assert (report.added, report.failed) == (1, 1) and "dots" in report.failures[0]


def test_max_age_retention(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    now = datetime(2024, 3, 1, tzinfo=UTC)
    old = make_article(1, date=now - timedelta(days=40))
    fresh = make_article(2, date=now - timedelta(days=5))
    undated = make_article(3).model_copy(update={"date": None})
    apply_changes([old, fresh, undated], (), settings, hashing_embedder, now=now - timedelta(days=30))
    report = apply_changes([make_article(4, date=now - timedelta(days=60)), make_article(5, date=now)], (),
                           settings, hashing_embedder, max_age=timedelta(days=30), now=now)
    assert (report.added, report.expired, report.removed) == (1, 1, 1)
    with IndexReader.open(settings.index_dir) as r:
        found = set(r.get_articles(["art-1", "art-2", "art-3", "art-4", "art-5"]))
        assert found == {"art-2", "art-3", "art-5"}


def test_model_mismatch_on_add_and_rebuild_with_new_model(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "idx")
    apply_changes(make_articles(3), (), settings, HashingEmbedder())
    other = HashingEmbedder(dimension=128, name="hashing-test-128")
    with pytest.raises(ModelMismatchError, match="newsbot index build"):
        apply_changes([make_article(9)], (), settings, other)
    report = apply_changes(make_articles(3), (), settings, other, replace_all=True)
    assert report.published and report.embedded_texts > 0 and report.articles == 3
    with IndexReader.open(settings.index_dir, other.info) as r:
        assert r.manifest.model.dimension == 128
    assert verify_index(settings.index_dir).ok


def test_ids_are_never_reused_after_removal(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    apply_changes(make_articles(2), (), settings, hashing_embedder)
    gone = set(_chunk_ids_of(settings.index_dir, "art-1"))
    apply_changes((), ["art-1"], settings, None)
    apply_changes([make_article(7)], (), settings, hashing_embedder)
    assert not gone & set(_chunk_ids_of(settings.index_dir, "art-7"))


def test_long_article_is_chunked_within_the_model_limit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "idx")
    emb = HashingEmbedder(max_tokens=40)
    body = " ".join(f"Sentence number {i} talks about topic {i} at length today." for i in range(30))
    apply_changes([Article(id="long", title="Long read", body=body)], (), settings, emb)
    with IndexReader.open(settings.index_dir) as r:
        chunks = r.get_chunks(r.chunk_ids_matching(None, None, None))
        assert len(chunks) > 3
        assert all(c.n_tokens <= 40 for c in chunks)
        covered = {p for c in chunks for p in range(c.first_sentence, c.last_sentence + 1)}
        assert covered == set(range(30))
        # consecutive chunks overlap by one sentence
        assert chunks[1].first_sentence == chunks[0].last_sentence


def test_build_repairs_a_broken_index_add_refuses(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    from index.errors import IndexCorruptError
    from index.store import versions_dir

    settings = settings_for(tmp_path / "idx")
    first = apply_changes(make_articles(3), (), settings, hashing_embedder)
    (versions_dir(settings.index_dir) / str(first.version) / "manifest.json").write_text("{")
    with pytest.raises(IndexCorruptError):
        apply_changes([make_article(7)], (), settings, hashing_embedder)
    report = apply_changes(make_articles(3), (), settings, hashing_embedder, replace_all=True)
    assert report.published and report.added == 3
    assert verify_index(settings.index_dir).ok
