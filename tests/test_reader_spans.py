"""The answer phrase: training targets, decoding, offsets and the whitespace the renderers collapse.

All pure (numpy, and torch for the loss); the real span head is checked in test_reader.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from doubles import WordTokenizer

from retrieval.models import marked_parts
from retrieval.reader_pairs import (
    InputLimits,
    ReaderPair,
    best_token_span,
    encode_pairs,
    locate_phrase,
    phrase_in_sentence,
)


def test_answer_phrase_is_found_inside_the_sentence_only() -> None:
    tok = WordTokenizer()
    pair = ReaderPair("how much did it take", "It took 7.2m pounds", "Box office", "It took 7.2m pounds")
    enc = encode_pairs(tok, [pair], InputLimits())
    row = enc.input_ids[0].tolist()
    phrase = tok(["7.2m pounds"])["input_ids"][0]
    start, end = locate_phrase(row, tuple(enc.sentence_spans[0]), phrase) or (-1, -1)
    assert tok(["It took 7.2m pounds"])["input_ids"][0][2:] == row[start : end + 1]
    assert enc.sentence_spans[0][0] <= start <= end < enc.sentence_spans[0][1]
    # the same words in the context (the previous sentence) are never the target
    cut = encode_pairs(tok, [pair], InputLimits(sentence=2))
    assert locate_phrase(cut.input_ids[0].tolist(), tuple(cut.sentence_spans[0]), phrase) is None


def test_training_targets_point_negatives_at_cls_and_skip_unknown_phrases() -> None:
    pytest.importorskip("torch")
    from retrieval.reader_train import NO_TARGET, span_targets

    tok = WordTokenizer()
    pairs = [
        ReaderPair("who chairs ryanair", "chairman David Bonderman said so"),
        ReaderPair("who chairs ryanair", "Ryanair ordered jets"),
        ReaderPair("who chairs ryanair", "The chairman spoke"),
    ]
    enc = encode_pairs(tok, pairs, InputLimits())
    targets = span_targets(tok, enc, [1, 0, 1], [["David Bonderman"], [], ["Michael O'Leary"]])
    first = enc.input_ids[0].tolist()
    assert [first[targets[0][0]], first[targets[0][1]]] == tok(["David Bonderman"])["input_ids"][0]
    assert targets[1].tolist() == [0, 0]
    assert targets[2].tolist() == [NO_TARGET, NO_TARGET]


def test_span_loss_ignores_the_question_and_context_and_skips_untargeted_pairs() -> None:
    torch = pytest.importorskip("torch")
    from retrieval.reader_train import NO_TARGET, span_loss

    spans = torch.tensor([[4, 8]])
    target = torch.tensor([[5, 6]])
    logits = torch.zeros(1, 12, 2)
    base = float(span_loss(logits, spans, target))
    aimed = logits.clone()
    aimed[0, 5, 0] = aimed[0, 6, 1] = 5.0
    assert float(span_loss(aimed, spans, target)) < base
    # a huge logit on a context position (10) changes nothing: it is not a possible answer
    context = logits.clone()
    context[0, 10, :] = 50.0
    assert float(span_loss(context, spans, target)) == pytest.approx(base)
    skipped = torch.tensor([[NO_TARGET, NO_TARGET]])
    assert float(span_loss(logits, spans, skipped)) == 0.0


def test_best_span_stays_in_the_sentence_in_order_and_short() -> None:
    start = np.zeros(12)
    end = np.zeros(12)
    start[2] = end[3] = 9.0  # a "phrase" in the question: not allowed
    start[6], end[7] = 3.0, 2.0
    end[5] = 4.0  # ends before the best start: not a span
    found = best_token_span(start, end, (5, 10))
    assert found is not None
    s, e, margin = found
    assert (s, e) == (6, 7) and margin == pytest.approx(5.0)
    start[0] = end[0] = 4.0  # "no phrase" scores 8: the margin turns negative
    assert best_token_span(start, end, (5, 10))[2] == pytest.approx(-3.0)  # type: ignore[index]
    assert best_token_span(start, end, (5, 10), max_tokens=1)[:2] in {(6, 6), (7, 7), (5, 5)}  # type: ignore[index]
    assert best_token_span(start, end, (5, 5)) is None


def test_phrase_offsets_widen_to_whole_words() -> None:
    sentence = "It took £7.2m in its opening weekend."
    # word pieces: it took £ 7 . 2 ##m in ...; the sentence's first piece is row position 10
    offsets = [(0, 2), (3, 7), (8, 9), (9, 10), (10, 11), (11, 12), (12, 13), (14, 16)]
    # a span ending on "2" would cut "2m": it widens to the word's end
    phrase = phrase_in_sentence(sentence, offsets, 10, 12, 15, 2.5)
    assert (sentence[phrase.start : phrase.end], phrase.margin) == ("£7.2m", 2.5)
    # one starting inside "took" widens back to the word's start
    inner = phrase_in_sentence(sentence, [(0, 2), (4, 7)], 0, 1, 1, 0.0)
    assert sentence[inner.start : inner.end] == "took"


@pytest.mark.parametrize(
    ("text", "span", "parts"),
    [
        ("It took  £7.2m in\nits first weekend.", (9, 14), ("It took ", "£7.2m", " in its first weekend.")),
        ("£7.2m was taken.", (0, 5), ("", "£7.2m", " was taken.")),
        ("It took £7.2m", (8, 13), ("It took ", "£7.2m", "")),
        ("It took £7.2m.", (8, 13), ("It took ", "£7.2m", ".")),
        ("It took £7.2m.", None, ("It took £7.2m.", "", "")),
        ("It took £7.2m.", (8, 99), ("It took £7.2m.", "", "")),
    ],
)
def test_marked_parts_rebuild_the_shown_sentence(
    text: str, span: tuple[int, int] | None, parts: tuple[str, str, str]
) -> None:
    assert marked_parts(text, span) == parts
    assert "".join(marked_parts(text, span)) == " ".join(text.split())
