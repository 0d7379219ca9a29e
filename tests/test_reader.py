"""The reader: pair encoding, precision choice, reranking, and the shipped weights.

Fast tests use a word-level fake tokenizer and a fake reader; the slow ones load the shipped
weights, train a tiny reader on fixtures, and rank real sentences.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, SHARED, reader_settings
from doubles import WordTokenizer

from index.embedding import HashingEmbedder
from index.models import Article
from index.pipeline import apply_changes
from index.precision import cpu_has_bf16, resolve_precision
from index.settings import IndexSettings
from retrieval import Answerer, rerank, scoring
from retrieval.reader_files import WEIGHTS_DIR, load_record
from retrieval.reader_pairs import InputLimits, Phrase, ReaderPair, Reading, encode_pairs
from retrieval.settings import RetrievalSettings

AMX_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n"
OLD_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2\n"


def test_pair_layout_marks_question_sentence_and_context() -> None:
    tok = WordTokenizer()
    pair = ReaderPair("who chairs ryanair", "Bonderman chairs it", "Ryanair deal", "It ordered jets")
    enc = encode_pairs(tok, [pair], InputLimits())
    row = enc.input_ids[0].tolist()
    seps = [i for i, t in enumerate(row) if t == tok.sep_token_id]
    assert row[0] == tok.cls_token_id and len(seps) == 3
    # question | sentence | context, the question alone in segment 0
    assert seps == [4, 8, 15]
    assert enc.token_type_ids[0].tolist() == [0] * 5 + [1] * 11
    assert enc.attention_mask[0].sum() == len(row)


def test_long_parts_are_cut_to_their_limits_and_padded() -> None:
    tok = WordTokenizer()
    long_q = " ".join(f"q{i}" for i in range(50))
    long_s = " ".join(f"s{i}" for i in range(100))
    pairs = [ReaderPair(long_q, long_s, "t " * 40), ReaderPair("short", "also short")]
    limits = InputLimits(question=8, sentence=16, context=4)
    enc = encode_pairs(tok, pairs, limits)
    assert enc.input_ids.shape == (2, 1 + 8 + 1 + 16 + 1 + 4 + 1)
    # the short pair has no context part and is padded
    assert enc.attention_mask[1].sum() == 1 + 1 + 1 + 2 + 1
    assert (enc.input_ids[1, enc.attention_mask[1] == 0] == tok.pad_token_id).all()


def test_context_reads_headline_then_previous_sentence() -> None:
    assert ReaderPair("q", "s", "Headline", "Before.").context == "Headline — Before."
    assert ReaderPair("q", "s", "", "Before.").context == "Before."
    assert ReaderPair("q", "s").context == ""


@pytest.mark.parametrize(
    ("setting", "cpuinfo", "expected"),
    [
        ("auto", AMX_CPUINFO, "bf16"),
        ("auto", OLD_CPUINFO, "fp32"),
        ("auto", "", "fp32"),
        ("fp32", AMX_CPUINFO, "fp32"),
        ("bf16", OLD_CPUINFO, "bf16"),
    ],
)
def test_precision_auto_uses_bf16_only_where_the_cpu_has_it(
    setting: str, cpuinfo: str, expected: str
) -> None:
    assert resolve_precision(setting, cpuinfo) == expected  # type: ignore[arg-type]
    assert cpu_has_bf16(AMX_CPUINFO) and not cpu_has_bf16(OLD_CPUINFO)


# -- reranking with a fake reader --------------------------------------------------------------

ARTICLES = [
    Article(
        id="ryanair-1",
        title="Ryanair orders 70 more Boeing jets",
        body=(
            "Ryanair has ordered 70 more Boeing 737 jets in a deal worth $4bn. "
            "Ryanair chairman David Bonderman said the airline would keep growing. "
            "Deputy chief executive Michael Cawley said fares would fall again this year."
        ),
        source="Business Desk",
    ),
    Article(
        id="film-1",
        title="Harbour Lights breaks box office record",
        body=(
            "Harbour Lights is a drama about a lighthouse keeper. "
            "It took £7.2m in its first weekend, a record for a debut director. "
            "The director shot it in 24 days on the coast."
        ),
        source="Screen Weekly",
    ),
]


class KeywordReader:
    """A stand-in reader: a high logit for sentences holding the key phrase of the question."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.seen: list[ReaderPair] = []

    def read(self, pairs: Sequence[ReaderPair]) -> Reading:
        """High logits where the key phrase is, and the phrase marked (margin 5) there."""
        self.seen += list(pairs)
        logits, phrases = [], []
        for p in pairs:
            key = self.keys.get(p.question, "\0")
            at = p.sentence.find(key)
            logits.append(6.0 if at >= 0 else -4.0)
            phrases.append(Phrase(at, at + len(key), 5.0) if at >= 0 else None)
        return Reading(np.asarray(logits, dtype=np.float32), phrases)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    settings = IndexSettings(index_dir=tmp_path / "idx", model="hashing-test")
    apply_changes(ARTICLES, (), settings, HashingEmbedder(), replace_all=True)
    return tmp_path / "idx"


def answerer_with(index_dir: Path, reader: KeywordReader, depth: int = 8) -> Answerer:
    settings = RetrievalSettings(reader_candidates=depth, confidence_threshold=0.5)
    return Answerer(index_dir, settings=settings, embedder=HashingEmbedder(), answer_reader=reader)


def test_reader_decides_the_first_sentence_and_the_confidence(index_dir: Path) -> None:
    q = "Who chairs Ryanair?"
    reader = KeywordReader({q: "chairman David Bonderman"})
    a = answerer_with(index_dir, reader).ask(q)
    assert a.answered and "Bonderman" in a.sentences[0].text
    assert "reader_ms" in a.timings_ms
    # the reader saw the sentence with its headline as context
    assert any(p.title == "Ryanair orders 70 more Boeing jets" for p in reader.seen)


def test_reader_that_finds_no_answer_lowers_confidence(index_dir: Path) -> None:
    q = "How many Airbus planes did Ryanair order?"
    with_answer = answerer_with(index_dir, KeywordReader({q: "70 more Boeing"})).ask(q)
    without = answerer_with(index_dir, KeywordReader({})).ask(q)
    assert without.confidence < with_answer.confidence
    assert not without.answered and without.sentences == []


def test_context_is_never_returned_as_answer_text(index_dir: Path) -> None:
    # The reader rewards the headline's words, which only the context carries: the answer is
    # still a sentence of the body, quoted at its offsets, never the headline.
    q = "How much did Harbour Lights take?"
    reader = KeywordReader({q: "£7.2m"})
    a = answerer_with(index_dir, reader).ask(q)
    body = ARTICLES[1].body
    assert a.sentences[0].text.startswith("It took £7.2m")
    for s in a.sentences + a.alternatives:
        src = next(x for x in ARTICLES if x.id == s.article_id)
        assert src.body[s.start : s.end] == s.text
        assert s.text != src.title and src.title not in s.text
    assert body  # the fixture's body is what the offsets index


def test_the_marked_answer_phrase_reaches_the_answer_and_its_renderings(index_dir: Path) -> None:
    """The reader's phrase becomes ``answer_span`` (offsets into the sentence, whose text is
    unchanged), bold in Telegram's HTML and in the terminal; a weak phrase is not marked."""
    from bot.render import sentence_units
    from retrieval.cli import BOLD, PLAIN, format_answer

    q = "How much did Harbour Lights take?"
    a = answerer_with(index_dir, KeywordReader({q: "£7.2m"})).ask(q)
    first = a.sentences[0]
    assert first.answer_span is not None
    start, end = first.answer_span
    assert first.text[start:end] == "£7.2m" and first.text.startswith("It took £7.2m")
    assert a.model_dump(mode="json")["sentences"][0]["answer_span"] == [start, end]
    assert sentence_units([first])[0].startswith("It took <b>£7.2m</b> in its first weekend")
    assert f"It took {BOLD}£7.2m{PLAIN} in its first" in format_answer(a, bold=True)
    assert BOLD not in format_answer(a) and "It took £7.2m in its first" in format_answer(a)
    strict = RetrievalSettings(reader_candidates=8, confidence_threshold=0.5, phrase_min_margin=6.0)
    reader = KeywordReader({q: "£7.2m"})
    unsure = Answerer(index_dir, settings=strict, embedder=HashingEmbedder(), answer_reader=reader).ask(q)
    assert unsure.sentences[0].answer_span is None
    assert "<b>" not in sentence_units(unsure.sentences)[0]


def test_rerank_keeps_unread_candidates_behind_the_read_ones() -> None:
    cands = [scoring.Candidate(sentence_id=i, article_id=f"a{i}", position=0, text=f"s{i}") for i in range(5)]
    lg = np.asarray([4.0, 3.0, 2.0, 1.0, 0.0])
    scored = scoring.Scored(
        cands, np.zeros((5, len(scoring.FEATURES))), lg, scoring.sigmoid(lg), [0, 1, 2, 3, 4]
    )
    out = rerank.rerank(scored, np.asarray([-3.0, 5.0, 0.0], dtype=np.float32), (1.0, 0.0))
    assert out.order == [1, 2, 0, 3, 4]
    assert out.logits[3] < min(out.logits[:3]) and out.logits[3] > out.logits[4]
    assert out.reader is not None and np.isnan(out.reader[3]) and out.reader[1] == 5.0
    assert 0.0 <= rerank.answer_confidence(out) <= 1.0


# -- the real reader (slow) ---------------------------------------------------------------------


@pytest.mark.slow
def test_shipped_weights_load_offline_and_match_their_record(monkeypatch: pytest.MonkeyPatch) -> None:
    from retrieval.reader import load_reader
    from retrieval.reader_files import file_sha256

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    record = load_record(WEIGHTS_DIR)
    weights = WEIGHTS_DIR / "reader.safetensors"
    assert weights.stat().st_size <= 25 * 1024 * 1024
    assert file_sha256(weights) == record["weights_sha256"]
    for name in ("layers", "limits", "config", "data_sha256", "base_model_sha256"):
        assert name in record
    if (SHARED / "datasets").is_dir():
        # the record names the exact training data: the shared files it lists are unchanged
        for rel, digest in record["data_sha256"].items():
            path = SHARED / "datasets" / rel
            if path.is_file():
                assert file_sha256(path) == digest, rel
    reader = load_reader("fp32")
    pair = ReaderPair("Who chairs Ryanair?", "Ryanair chairman David Bonderman said so.")
    logits = reader.read([pair]).logits
    assert logits.shape == (1,) and np.isfinite(logits).all()


@pytest.mark.slow
def test_fp32_and_bf16_agree() -> None:
    from retrieval.reader import load_reader

    pairs = [
        ReaderPair("Who chairs Ryanair?", "Ryanair chairman David Bonderman said so.", "Ryanair orders jets"),
        ReaderPair("Who chairs Ryanair?", "Ryanair has ordered 70 Boeing 737 jets.", "Ryanair orders jets"),
    ]
    fp32 = load_reader("fp32").read(pairs).logits
    bf16 = load_reader("bf16").read(pairs).logits
    assert np.allclose(fp32, bf16, atol=0.5)
    assert (fp32[0] > fp32[1]) == (bf16[0] > bf16[1])


@pytest.mark.slow
def test_tiny_training_run_learns_the_fixture_groups(tmp_path: Path) -> None:
    from retrieval.reader import CrossEncoderReader
    from retrieval.reader_train import TrainConfig, load_groups, train

    groups = load_groups(FIXTURES / "reader" / "groups.jsonl")
    config = TrainConfig(
        layers=1, groups_per_step=2, epochs=15, save_every=5, learning_rate=3e-4, precision="fp32"
    )
    record = train(
        groups, config, tmp_path / "work", tmp_path / "out", {"groups": "fixture"}, log=lambda _: None
    )
    assert record["steps"] == record["total_steps"] > 0
    saved = json.loads((tmp_path / "out" / "reader.json").read_text())
    assert saved["layers"] == 1 and saved["data_sha256"] == {"groups": "fixture"}
    reader = CrossEncoderReader(tmp_path / "out", "fp32")
    assert reader.marks_phrases
    for g in groups:
        reading = reader.read(g.pairs)
        pos = [x for x, lab in zip(reading.logits, g.labels, strict=True) if lab]
        neg = [x for x, lab in zip(reading.logits, g.labels, strict=True) if not lab]
        if pos:
            assert min(pos) > max(neg), g.question
        # the span head learnt the gold phrases inside the answering sentences
        for pair, phrase, gold in zip(g.pairs, reading.phrases, g.answers, strict=True):
            if gold:
                assert phrase is not None and pair.sentence[phrase.start : phrase.end] == gold[0], g.question


@pytest.mark.slow
def test_training_continues_from_earlier_weights_and_refuses_other_files(tmp_path: Path) -> None:
    """A second round starts where the first stopped (its loss starts lower), and the
    record names the weights it started from; a file whose hash differs is refused."""
    from index.errors import ConfigError
    from retrieval.reader_files import WEIGHTS_FILE, file_sha256
    from retrieval.reader_train import TrainConfig, load_groups, train

    groups = load_groups(FIXTURES / "reader" / "groups.jsonl")
    base = TrainConfig(layers=1, groups_per_step=2, epochs=6, learning_rate=3e-4, precision="fp32")
    first = train(groups, base, tmp_path / "w1", tmp_path / "one", {"g": "f"}, log=lambda _: None)
    start = tmp_path / "one" / WEIGHTS_FILE
    again = TrainConfig(**{**base.__dict__, "epochs": 1, "start_weights": file_sha256(start)})
    lines: list[str] = []
    second = train(groups, again, tmp_path / "w2", tmp_path / "two", {"g": "f"}, log=lines.append,
                   start_from=start)
    assert any("continuing from" in line for line in lines)
    assert second["config"]["start_weights"] == file_sha256(start)
    fresh = TrainConfig(**{**base.__dict__, "epochs": 1})
    scratch = train(groups, fresh, tmp_path / "w3", tmp_path / "three", {"g": "f"}, log=lambda _: None)
    assert second["final_loss"] < scratch["final_loss"]
    assert first["config"]["start_weights"] == ""
    wrong = TrainConfig(**{**again.__dict__, "start_weights": "0" * 64})
    with pytest.raises(ConfigError, match="not the weights"):
        train(groups, wrong, tmp_path / "w4", tmp_path / "four", {"g": "f"}, start_from=start)
    with pytest.raises(ConfigError, match="none were given"):
        train(groups, again, tmp_path / "w5", tmp_path / "five", {"g": "f"})


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # issue 11's first example; answered since late-chunked sentence vectors and the refit
        ("Who chairs Ryanair?", "Bonderman"),
        ("Who is Ryanair's chairman?", "Bonderman"),
        ("Who is Ryanair's deputy chief executive?", "Cawley"),
        ("How many jets has Ryanair ordered?", "70 more"),
        ("How much did Harbour Lights take in its first weekend?", "£7.2m"),
    ],
)
def test_who_and_how_many_rank_the_answering_sentence_first(
    tmp_path_factory: pytest.TempPathFactory, question: str, expected: str
) -> None:
    from index.embedding import load_embedder

    index_dir = tmp_path_factory.mktemp("reader-real") / "idx"
    embedder = load_embedder()
    apply_changes(ARTICLES, (), IndexSettings(index_dir=index_dir), embedder, replace_all=True)
    a = Answerer(index_dir, settings=reader_settings(), embedder=embedder).ask(question)
    assert a.answered and expected in a.sentences[0].text, (question, [s.text for s in a.sentences])


@pytest.mark.slow
def test_previous_sentence_is_context_not_evidence(tmp_path: Path) -> None:
    """The demo's cup final: the answering sentence ("Goalkeeper Daniel Mbeki saved two
    penalties") must come first, not the sentence after it, which only has it as context.

    The reader before this one scored "Around 82,000 fans watched the final" 1.41 against
    Mbeki's 0.57 because Mbeki's sentence is its context; training now puts that following
    sentence first among each question's negatives (bench/train_reader.py)."""
    from index.embedding import load_embedder
    from index.sources import iter_articles
    from retrieval.cli import demo_article_files

    settings = IndexSettings(index_dir=tmp_path / "idx")
    embedder = load_embedder()
    articles = [a for a in iter_articles([str(p) for p in demo_article_files()], settings)
                if isinstance(a, Article)]
    apply_changes(articles, (), settings, embedder, replace_all=True)
    a = Answerer(settings.index_dir, settings=reader_settings(), embedder=embedder)
    answer = a.ask("Who saved the penalties in the cup final?")
    assert answer.answered and "Mbeki" in answer.sentences[0].text, [s.text for s in answer.sentences]
