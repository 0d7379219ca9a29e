"""The ONNX path for questions: the same vectors as torch, exported once, torch as fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index.errors import ConfigError
from index.onnx_query import export_name

QUESTION = "How much did Harbour Lights take in its first weekend?"


def test_export_name_follows_the_model_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    first = export_name(str(model), 256)
    assert first == export_name(str(model), 256) and first.endswith(".onnx")
    assert export_name(str(model), 128) != first  # another truncation is another export
    (model / "model.safetensors").write_bytes(b"new weights!")
    assert export_name(str(model), 256) != first  # a changed model never reuses an old export


@pytest.mark.slow
def test_questions_through_fused_onnx_match_torch_and_the_export_is_made_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from index.embedding import SentenceTransformerEmbedder

    torch_only = SentenceTransformerEmbedder(threads=1, query_runtime="torch")
    with caplog.at_level(logging.WARNING, logger="newsbot.embedding"):
        fast = SentenceTransformerEmbedder(threads=1, query_runtime="onnx", cache_dir=tmp_path)
        vec = fast.encode([QUESTION])
    assert fast.short_runtime == "onnx" and torch_only.short_runtime == "torch"
    assert float(vec[0] @ torch_only.encode([QUESTION])[0]) > 0.9999
    assert abs(float(np.linalg.norm(vec[0])) - 1.0) < 1e-5
    assert any("preparing the ONNX query encoder" in r.message for r in caplog.records)
    files = sorted(tmp_path.glob("query-encoder-*.onnx"))
    [export] = [f for f in files if f.name.endswith("-fused.onnx")]  # what runs: the fused copy
    assert len(files) == 2
    import onnx

    ops = {node.op_type for node in onnx.load(str(export)).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops  # one attention kernel per layer

    # a second process finds the export and does not make it again
    caplog.clear()
    stamp = export.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING, logger="newsbot.embedding"):
        again = SentenceTransformerEmbedder(threads=1, query_runtime="onnx", cache_dir=tmp_path)
        assert float(again.encode([QUESTION])[0] @ vec[0]) > 0.99999
    assert not caplog.records and export.stat().st_mtime_ns == stamp

    # a corpus encode stays on torch (bf16 on AMX), and agrees too
    texts = [f"{QUESTION} ({i})" for i in range(12)]
    assert np.allclose(fast.encode(texts), torch_only.encode(texts), atol=1e-4)

    # a damaged export is made again rather than failing questions
    export.write_bytes(b"not a model")
    repaired = SentenceTransformerEmbedder(threads=1, query_runtime="onnx", cache_dir=tmp_path)
    assert repaired.short_runtime == "onnx"
    assert float(repaired.encode([QUESTION])[0] @ vec[0]) > 0.99999


@pytest.mark.slow
def test_without_onnxruntime_auto_falls_back_and_onnx_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import index.embedding as embedding
    import index.onnx_query as onnx_query

    monkeypatch.setattr(onnx_query, "onnx_runtime_installed", lambda: False)
    with caplog.at_level(logging.WARNING, logger="newsbot.embedding"):
        auto = embedding.SentenceTransformerEmbedder(threads=1, query_runtime="auto", cache_dir=tmp_path)
        assert auto.encode([QUESTION]).shape == (1, 384)
    assert auto.short_runtime == "torch"
    assert any("encoded with torch" in r.message for r in caplog.records)
    strict = embedding.SentenceTransformerEmbedder(threads=1, query_runtime="onnx", cache_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        strict.encode([QUESTION])
    assert caught.value.one_line() == (
        "config error: NEWSBOT_QUERY_RUNTIME=onnx: onnxruntime and onnx are not installed")


@pytest.mark.slow
def test_int8_questions_stay_close_to_torch(tmp_path: Path) -> None:
    from index.embedding import SentenceTransformerEmbedder
    from index.onnx_query import MIN_COSINE_INT8, int8_name

    torch_only = SentenceTransformerEmbedder(threads=1, query_runtime="torch")
    int8 = SentenceTransformerEmbedder(threads=1, query_runtime="onnx-int8", cache_dir=tmp_path)
    assert int8.short_runtime == "onnx-int8"
    [fp32] = [p for p in tmp_path.glob("query-encoder-*.onnx") if "int8" not in p.name]
    assert (tmp_path / int8_name(fp32.name)).is_file()
    vec = int8.encode([QUESTION])
    assert abs(float(np.linalg.norm(vec[0])) - 1.0) < 1e-5
    assert MIN_COSINE_INT8 <= float(vec[0] @ torch_only.encode([QUESTION])[0]) < 0.99999


@pytest.mark.slow
def test_blockwise_int8_questions_follow_torch_closer_than_dynamic_int8(tmp_path: Path) -> None:
    from index.embedding import SentenceTransformerEmbedder
    from index.onnx_query import MIN_COSINE_BLOCKWISE

    questions = [QUESTION, "Who chairs Ryanair?", "How many jobs will Volkswagen cut in Germany?",
                 "Which judge set the trial date in the Balco steroid case?"]
    reference = SentenceTransformerEmbedder(threads=1, query_runtime="torch").encode(questions)
    blockwise = SentenceTransformerEmbedder(threads=1, query_runtime="onnx-int8-blockwise",
                                            cache_dir=tmp_path)
    dynamic = SentenceTransformerEmbedder(threads=1, query_runtime="onnx-int8", cache_dir=tmp_path)
    assert blockwise.short_runtime == "onnx-int8-blockwise"
    block_cos = np.sum(blockwise.encode(questions) * reference, axis=1)
    dynamic_cos = np.sum(dynamic.encode(questions) * reference, axis=1)
    assert np.all(block_cos >= MIN_COSINE_BLOCKWISE)
    assert float(np.mean(1 - block_cos)) < float(np.mean(1 - dynamic_cos)) / 3  # far nearer torch
