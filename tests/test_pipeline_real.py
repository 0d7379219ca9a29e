"""The pipeline with the real packaged model and real ingest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_store_support import make_articles, settings_for, write_jsonl

from index.embedding import HashingEmbedder
from index.pipeline import add_to_index, build_index
from index.store import IndexReader, verify_index

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"


def test_ingest_fixtures_index_cleanly(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    """Scrapes, HTML and Markdown from the ingest fixtures go through build and verify."""
    if not FIXTURES.is_dir():
        pytest.skip("ingest fixtures not present")
    settings = settings_for(tmp_path / "idx")
    report = build_index([str(FIXTURES)], settings, hashing_embedder, progress=False)
    assert report.articles >= 1 and report.published
    assert verify_index(settings.index_dir).ok
    with IndexReader.open(settings.index_dir) as r:
        for chunk in r.get_chunks(r.chunk_ids_matching(None, None, None)):
            assert chunk.text.strip() == chunk.text and chunk.text


def test_add_of_broken_inputs_loses_nothing(tmp_path: Path, hashing_embedder: HashingEmbedder) -> None:
    settings = settings_for(tmp_path / "idx")
    build_index([str(write_jsonl(tmp_path / "good.jsonl", make_articles(4)))], settings, hashing_embedder,
                progress=False)
    (tmp_path / "bad.json").write_text("[{]")
    (tmp_path / "empty.jsonl").write_text('{"id": "x", "body": ""}\n')
    (tmp_path / "pic.png").write_bytes(b"\x89PNG")
    seen: list[str] = []
    inputs = [str(tmp_path / name) for name in ("bad.json", "empty.jsonl", "pic.png", "nope.txt")]
    report = add_to_index(inputs, settings, hashing_embedder, progress=False, on_failure=seen.append)
    assert report.failed == 4 and seen == report.failures
    assert not report.published
    with IndexReader.open(settings.index_dir) as r:
        assert r.manifest.articles == 4
    assert verify_index(settings.index_dir).ok


@pytest.mark.slow
def test_real_model_build_and_semantic_neighbour(tmp_path: Path) -> None:
    from index.embedding import load_embedder

    embedder = load_embedder()
    settings = settings_for(tmp_path / "idx")
    src = write_jsonl(tmp_path / "news.jsonl", make_articles(12))
    report = build_index([str(src)], settings, embedder, progress=False)
    assert report.articles == 12 and report.embedded_texts > 0
    with IndexReader.open(settings.index_dir, embedder.info) as r:
        assert (r.manifest.model.name, r.manifest.model.dimension) == ("all-MiniLM-L6-v2", 384)
        # no word in common with the football sentences, only meaning
        q = embedder.encode(["Which team won the soccer game?"])[0]
        best = r.get_sentences([r.search_sentences(q, 1)[0][0]])[0]
        assert best.article_id in {a.id for a in make_articles(12) if "football" in a.title.lower()}
        chunk = r.get_chunks([r.search_chunks(embedder.encode(["blizzard closes schools"])[0], 1)[0][0]])[0]
        assert "snow" in chunk.text.lower()
    assert verify_index(settings.index_dir).ok
    # the same corpus again: nothing re-encoded
    again = build_index([str(src)], settings, embedder, progress=False)
    assert again.embedded_texts == 0 and again.unchanged == 12
