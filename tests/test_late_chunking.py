"""Late chunking: sentence vectors pooled from their chunk's encoder pass (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_store_support import make_articles, settings_for

from index.embed_batch import chunk_input
from index.embedding import HashingEmbedder
from index.late_chunking import TokenSpans, has_vector, late_key, pool_spans
from index.pipeline import apply_changes
from index.store import IndexReader, verify_index


def _tokens(text: str, dim: int = 4) -> TokenSpans:
    """[CLS] + one token per word (embedding = one-hot of the word's index) + [SEP]."""
    words, pos = [], 0
    for word in text.split():
        start = text.index(word, pos)
        words.append((start, start + len(word)))
        pos = start + len(word)
    emb = np.zeros((len(words) + 2, dim), dtype=np.float32)
    emb[0, 0] = emb[-1, 0] = 1.0  # special tokens
    for i in range(len(words)):
        emb[i + 1, 1 + i % (dim - 1)] = 1.0
    offsets = np.array([(0, 0), *words, (0, 0)], dtype=np.int64)
    return TokenSpans(emb, offsets)


def test_span_vectors_pool_exactly_the_tokens_inside_each_span() -> None:
    text = "Title here\nOne two. Three."
    enc = _tokens(text)
    first = (11, 19)  # "One two."
    second = (20, 26)  # "Three."
    chunk, spans = pool_spans(enc, [first, second])
    # "One" and "two." are tokens 1..2 of the words after "Title here" (words 3 and 4)
    expected_first = enc.embeddings[3:5].mean(axis=0)
    expected_first /= np.linalg.norm(expected_first)
    assert np.allclose(spans[0], expected_first)
    expected_second = enc.embeddings[5] / np.linalg.norm(enc.embeddings[5])
    assert np.allclose(spans[1], expected_second)
    # the chunk's own vector is the mean over every token, special ones included (mean pooling)
    mean = enc.embeddings.mean(axis=0)
    assert np.allclose(chunk, mean / np.linalg.norm(mean))


def test_a_span_beyond_the_token_limit_gets_no_vector() -> None:
    enc = _tokens("alpha beta gamma")
    _, spans = pool_spans(enc, [(0, 5), (100, 120)])
    assert has_vector(spans).tolist() == [True, False]


def test_late_keys_change_with_the_context_not_only_the_text() -> None:
    a = late_key("It took £7.2m.", ["chunk-a"], 2)
    assert a == late_key("It took £7.2m.", ["chunk-a"], 2)
    assert a != late_key("It took £7.2m.", ["chunk-b"], 2)  # read under another headline
    assert a != late_key("It took £7.3m.", ["chunk-a"], 2)


def test_late_index_stores_one_vector_per_sentence_from_its_chunk(tmp_path: Path) -> None:
    """The build reads each chunk once, and every sentence's stored vector is its own span's
    (the test embedder pools exactly the span's words), so offsets and vectors line up."""
    settings = settings_for(tmp_path / "idx")
    emb = HashingEmbedder()
    report = apply_changes(make_articles(4), (), settings, emb)
    assert report.embedded_texts == report.chunks
    assert verify_index(settings.index_dir).ok
    with IndexReader.open(settings.index_dir) as reader:
        ids = [i for i, _ in reader.id_articles("sentences")]
        sentences = reader.get_sentences(ids)
        stored = reader.sentence_vectors([s.id for s in sentences])
    assert len(sentences) == report.sentences
    assert np.allclose(stored, emb.encode([s.text for s in sentences]), atol=1e-6)


@pytest.mark.slow
def test_real_model_late_vectors_match_their_own_sentences() -> None:
    """With the packaged model: the chunk vector is exactly ``encode``'s, and each pooled
    sentence vector is nearest to its own sentence encoded alone (spans line up with tokens)."""
    from index.embedding import load_embedder

    emb = load_embedder(threads=1, precision="fp32")
    title = "Harbour Lights breaks box office record"
    body = ("The film opened in 400 cinemas on Friday. It took £7.2m in three days. "
            "Critics had expected far less from a film with no stars.")
    bounds = [(0, 41), (42, 70), (71, len(body))]
    text = chunk_input(title, body, 0, len(body))
    offset = len(title) + 1
    chunk, (spans,) = emb.encode_late([text], [[(s + offset, e + offset) for s, e in bounds]])
    assert float(chunk[0] @ emb.encode([text])[0]) > 0.9999
    alone = emb.encode([body[s:e] for s, e in bounds])
    similarity = spans @ alone.T
    assert similarity.argmax(axis=1).tolist() == [0, 1, 2]


@pytest.mark.slow
def test_real_model_late_vectors_do_not_depend_on_the_batches() -> None:
    """``encode_late`` runs the model one batch at a time, longest text first, and keeps only
    the pooled vectors: each text's chunk and span vectors are the ones it gets when encoded
    alone, in whatever order and batch size the texts come."""
    from index.embedding import load_embedder

    emb = load_embedder(threads=1, precision="fp32")
    texts = [
        "Rail fares rise\nFares go up 3% in January. Unions called it a tax on workers.",
        "Short one.",
        "Budget approved\nThe council approved the budget on Monday after a long debate. "
        "Spending on roads rises by a tenth. Libraries keep their hours.",
        "Cup final\nThe holders won 2-1. The winner came in extra time.",
        "Strike ends\nTalks ended the strike.",
    ]
    spans = [[(t.index("\n") + 1 if "\n" in t else 0, len(t))] for t in texts]
    together, together_spans = emb.encode_late(texts, spans, batch_size=2)
    for i, (text, text_spans) in enumerate(zip(texts, spans, strict=True)):
        alone, (alone_spans,) = emb.encode_late([text], [text_spans])
        assert float(together[i] @ alone[0]) > 0.9999
        assert float(together_spans[i][0] @ alone_spans[0]) > 0.9999
    assert np.allclose(together, emb.encode(texts), atol=1e-4)
    reverse, _ = emb.encode_late(texts[::-1], spans[::-1], batch_size=64)
    assert np.allclose(reverse[::-1], together, atol=1e-5)
