"""The reader through ONNX Runtime: same answers as torch, made once per weights file, and a
clear line (or a quiet fallback under ``auto``) when it cannot run.

The slow tests load the shipped reader and export it (~20 s per runtime).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index.errors import ConfigError
from index.onnx_query import OnnxRuntimeKind, blockwise_name, fused_name, int8_name
from retrieval.reader_files import WEIGHTS_DIR, file_sha256, reader_spec
from retrieval.reader_pairs import InputLimits, ReaderPair

#: An answering sentence, then two that resemble the question without answering it.
GROUPS = [
    [ReaderPair("Who chairs Ryanair?", "Ryanair chairman David Bonderman said the airline would grow.",
                "Ryanair orders more Boeing jets"),
     ReaderPair("Who chairs Ryanair?", "Ryanair has ordered 70 more Boeing 737 jets.",
                "Ryanair orders more Boeing jets"),
     ReaderPair("Who chairs Ryanair?", "Ryanair's deputy chief executive said the deal was good value.",
                "Ryanair orders more Boeing jets")],
    [ReaderPair("How much did Harbour Lights take in its first weekend?",
                "It took £7.2m in three days, a record for a British debut.",
                "Harbour Lights breaks box office record", "Harbour Lights opened on Friday."),
     ReaderPair("How much did Harbour Lights take in its first weekend?",
                "Harbour Lights opened on Friday in 400 cinemas.", "Harbour Lights breaks box office record"),
     ReaderPair("How much did Harbour Lights take in its first weekend?",
                "The film was directed by a first-time director from Leeds.",
                "Harbour Lights breaks box office record")],
]


@pytest.mark.slow
def test_fused_onnx_reader_reads_like_torch_and_is_made_once(tmp_path: Path) -> None:
    from retrieval.reader import load_reader
    from retrieval.reader_onnx import OnnxReader

    torch_reader = load_reader("fp32")
    onnx_reader = load_reader("fp32", runtime="onnx", cache_dir=tmp_path)
    assert isinstance(onnx_reader, OnnxReader)
    for group in GROUPS:
        want, got = torch_reader.read(group).logits, onnx_reader.read(group).logits
        assert np.allclose(got, want, atol=1e-3), (got, want)
        assert list(np.argsort(-got)) == list(np.argsort(-want))  # the same order

    fused = tmp_path / fused_name(export_file_name())
    assert [p.name for p in tmp_path.iterdir()] == [fused.name]  # only the copy that runs stays
    made = fused.stat().st_mtime_ns
    again = load_reader("fp32", runtime="onnx", cache_dir=tmp_path)
    assert fused.stat().st_mtime_ns == made
    assert np.allclose(again.read(GROUPS[0]).logits, onnx_reader.read(GROUPS[0]).logits)

    # a damaged copy is made again rather than failing questions
    fused.write_bytes(b"not a model")
    repaired = load_reader("fp32", runtime="onnx", cache_dir=tmp_path)
    assert np.allclose(repaired.read(GROUPS[1]).logits, torch_reader.read(GROUPS[1]).logits, atol=1e-3)


def logits_beside_torch(kind: OnnxRuntimeKind, cache: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(torch's, the ``kind`` copy's) logits for each fixture group; the copy made in ``cache``."""
    from retrieval.reader import load_reader
    from retrieval.reader_onnx import OnnxReader

    torch_reader = load_reader("fp32")
    copy = load_reader("fp32", runtime=kind, cache_dir=cache)
    assert isinstance(copy, OnnxReader) and copy.runtime == kind
    return [(torch_reader.read(group).logits, copy.read(group).logits) for group in GROUPS]


def export_file_name() -> str:
    from retrieval.reader_onnx import reader_export_name

    spec = reader_spec(WEIGHTS_DIR)
    return reader_export_name(file_sha256(spec.weights), spec.limits)


@pytest.mark.slow
def test_int8_reader_stays_near_torch(tmp_path: Path) -> None:
    """The opt-in int8 copy is made and stays within its bound of torch's logits. It is not
    the same ranking: on "Who chairs Ryanair?" it puts the Boeing-order sentence 0.2 logits
    above Bonderman's (torch: Bonderman by 0.6), which is why ``auto`` does not pick it."""
    from retrieval.reader_onnx import MAX_LOGIT_ERROR_INT8

    for want, got in logits_beside_torch("onnx-int8", tmp_path):
        assert 0 < np.max(np.abs(got - want)) <= MAX_LOGIT_ERROR_INT8
    assert (tmp_path / int8_name(export_file_name())).is_file()


@pytest.mark.slow
def test_blockwise_int8_reader_keeps_torchs_order(tmp_path: Path) -> None:
    """The blockwise int8 copy answers like torch where the dynamic int8 copy does not: the
    same order in every fixture group, Bonderman's sentence first for "Who chairs Ryanair?"."""
    from retrieval.reader_onnx import MAX_LOGIT_ERROR_BLOCKWISE, READER_WEIGHT_BLOCK

    read = logits_beside_torch("onnx-int8-blockwise", tmp_path)
    for want, got in read:
        assert 0 < np.max(np.abs(got - want)) <= MAX_LOGIT_ERROR_BLOCKWISE
        assert list(np.argsort(-got)) == list(np.argsort(-want))
    assert int(np.argmax(read[0][1])) == 0
    # only the copy that runs is kept
    assert [p.name for p in tmp_path.iterdir()] == [blockwise_name(export_file_name(), READER_WEIGHT_BLOCK)]


@pytest.mark.slow
def test_without_onnxruntime_auto_reads_with_torch_and_onnx_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import retrieval.reader as reader_module
    import retrieval.reader_onnx as reader_onnx
    from retrieval.reader import CrossEncoderReader, load_reader

    monkeypatch.setattr(reader_onnx, "onnx_runtime_installed", lambda: False)
    monkeypatch.setattr(reader_module, "AUTO_READER_RUNTIME", "onnx-int8")
    with caplog.at_level(logging.WARNING, logger="newsbot.reader"):
        auto = load_reader("fp32", runtime="auto", cache_dir=tmp_path)
    assert isinstance(auto, CrossEncoderReader)
    assert any("reading with torch" in r.message for r in caplog.records)
    with pytest.raises(ConfigError) as caught:
        load_reader("fp32", runtime="onnx", cache_dir=tmp_path)
    assert caught.value.one_line() == (
        "config error: NEWSBOT_READER_RUNTIME=onnx: onnxruntime and onnx are not installed")


def test_export_name_follows_the_weights_and_the_input_limits() -> None:
    from retrieval.reader_onnx import reader_export_name

    base = reader_export_name("a" * 64, InputLimits())
    assert reader_export_name("b" * 64, InputLimits()) != base
    assert reader_export_name("a" * 64, InputLimits(sentence=96)) != base
    assert base.endswith(".onnx") and base == reader_export_name("a" * 64, InputLimits())


@pytest.mark.slow
def test_a_bf16_reader_is_not_exported(tmp_path: Path) -> None:
    """Its weights are already rounded: the export would not be the trained reader."""
    from retrieval.reader_onnx import export_reader
    from retrieval.reader_torch import CrossEncoderReader

    with pytest.raises(ValueError, match="fp32"):
        export_reader(CrossEncoderReader(WEIGHTS_DIR, "bf16"), tmp_path / "reader.onnx")
    assert not list(tmp_path.iterdir())
