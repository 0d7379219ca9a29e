"""The int8 question paths (dynamic and blockwise): made from the float32 export, kept only
above their cosine bounds.

Fast: a tiny hand-built ONNX graph (an embedding table, one MatMul, masked mean) stands in for
the exported model, so quantization, the bound and the cache run without loading MiniLM.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import index.onnx_query as onnx_query
from index.errors import ConfigError
from index.onnx_query import (
    PROBES,
    OnnxQueryEncoder,
    blockwise_name,
    export_name,
    int8_name,
    prepare_query_encoder,
)
from index.settings import load_index_settings

VOCAB, DIM = 64, 32
QUESTION = "How much did Harbour Lights take in its first weekend?"


class WordTokenizer:
    """Words hashed into ``VOCAB`` ids, padded like a Hugging Face tokenizer's numpy output."""

    def __call__(self, texts: Sequence[str], padding: bool = True, truncation: bool = True,
                 max_length: int = 256, return_tensors: str = "np") -> dict[str, np.ndarray]:
        rows = [[zlib.crc32(w.encode()) % VOCAB for w in t.split()][:max_length] or [0] for t in texts]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, : len(r)], mask[i, : len(r)] = r, 1
        return {"input_ids": ids, "attention_mask": mask}


class TinyModel:
    """The parts of a SentenceTransformer the question path reads: tokenizer, transformer config."""

    tokenizer = WordTokenizer()

    def __getitem__(self, index: int) -> Any:
        config = SimpleNamespace(num_attention_heads=1, hidden_size=DIM)
        return SimpleNamespace(auto_model=SimpleNamespace(config=config))


def write_tiny_export(model: Any, out: Path) -> None:
    """What ``export_query_encoder`` writes, in miniature: ids -> table -> MatMul -> masked mean."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    table = numpy_helper.from_array(rng.normal(size=(VOCAB, DIM)).astype(np.float32), "table")
    weight = numpy_helper.from_array(rng.normal(size=(DIM, DIM)).astype(np.float32), "weight")
    axis = numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis")
    tokens_axis = numpy_helper.from_array(np.array([1], dtype=np.int64), "tokens_axis")
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"]),
        helper.make_node("MatMul", ["emb", "weight"], ["hidden"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis"], ["mask3"]),
        helper.make_node("Mul", ["hidden", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "tokens_axis"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "tokens_axis"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        [table, weight, axis, tokens_axis],
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(out))


def unit(vecs: np.ndarray) -> np.ndarray:
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.setattr(onnx_query, "export_query_encoder", write_tiny_export)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights").write_bytes(b"tiny")
    reference_file = tmp_path / "reference.onnx"
    write_tiny_export(TinyModel(), reference_file)
    reference = unit(OnnxQueryEncoder(reference_file, TinyModel.tokenizer, 256, 1).encode(PROBES))
    fp32 = tmp_path / "cache" / export_name(str(model_dir), 256)
    return {"model_path": str(model_dir), "cache": tmp_path / "cache", "reference": reference,
            "fp32": fp32, "int8": fp32.with_name(int8_name(fp32.name)),
            "blockwise": fp32.with_name(blockwise_name(fp32.name, onnx_query.QUERY_WEIGHT_BLOCK))}


def prepare(tiny: dict[str, Any], kind: onnx_query.OnnxRuntimeKind = "onnx-int8") -> OnnxQueryEncoder:
    return prepare_query_encoder(TinyModel(), tiny["model_path"], 256, 1, tiny["cache"], kind,
                                 lambda: tiny["reference"])


def test_int8_copy_is_made_from_the_export_and_accepted_above_the_bound(tiny: dict[str, Any]) -> None:
    import onnx

    encoder = prepare(tiny)
    assert tiny["fp32"].is_file() and tiny["int8"].is_file()  # beside each other, own names
    assert tiny["int8"].name != tiny["fp32"].name and tiny["int8"].name.endswith(".onnx")
    ops = {n.op_type for n in onnx.load(str(tiny["int8"])).graph.node}
    assert "MatMul" not in ops and ops & {"MatMulInteger", "DynamicQuantizeMatMul"}  # really int8
    cosine = onnx_query.reproduces(encoder, tiny["reference"])
    assert onnx_query.MIN_COSINE_INT8 <= cosine < 0.99999  # close, not the float32 vectors

    # a second call opens the cached copy and makes nothing again
    stamps = (tiny["fp32"].stat().st_mtime_ns, tiny["int8"].stat().st_mtime_ns)
    again = prepare(tiny)
    assert (tiny["fp32"].stat().st_mtime_ns, tiny["int8"].stat().st_mtime_ns) == stamps
    assert np.allclose(again.encode([QUESTION]), encoder.encode([QUESTION]))


def test_blockwise_copy_holds_int8_blocks_and_is_accepted_above_its_bound(tiny: dict[str, Any]) -> None:
    import onnx

    blockwise = prepare(tiny, "onnx-int8-blockwise")
    assert tiny["blockwise"].is_file() and tiny["fp32"].is_file()
    assert not [p for p in tiny["cache"].iterdir() if p.name.startswith(".")]  # no fused leftover
    ops = {n.op_type for n in onnx.load(str(tiny["blockwise"])).graph.node}
    assert "MatMul" not in ops and "MatMulNBits" in ops  # the weights really are int8 blocks
    block_cosine = onnx_query.reproduces(blockwise, tiny["reference"])
    assert onnx_query.MIN_COSINE_BLOCKWISE <= block_cosine < 0.99999999  # close, not float32's

    stamp = tiny["blockwise"].stat().st_mtime_ns
    again = prepare(tiny, "onnx-int8-blockwise")  # opened from the cache, not made again
    assert tiny["blockwise"].stat().st_mtime_ns == stamp
    assert np.allclose(again.encode([QUESTION]), blockwise.encode([QUESTION]))


def test_int8_copy_below_the_bound_is_rejected_and_not_kept(
    tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_query, "MIN_COSINE_INT8", 0.999999)
    with pytest.raises(RuntimeError, match=r"int8 copy does not reproduce the model \(cosine 0\.9"):
        prepare(tiny)
    assert not tiny["int8"].exists() and tiny["fp32"].is_file()  # the float32 export is still good
    fused = prepare(tiny, "onnx")  # the float32 path is made from it (nothing to fuse in this graph)
    assert onnx_query.reproduces(fused, tiny["reference"]) > 0.99999


def test_damaged_int8_copy_is_made_again(tiny: dict[str, Any]) -> None:
    first = prepare(tiny).encode([QUESTION])
    tiny["int8"].write_bytes(b"not a model")
    repaired = prepare(tiny)
    assert np.allclose(repaired.encode([QUESTION]), first, atol=1e-6)
    assert tiny["int8"].stat().st_size > 1000


def test_damaged_float32_export_under_an_int8_request_is_made_again(tiny: dict[str, Any]) -> None:
    tiny["cache"].mkdir()
    tiny["fp32"].write_bytes(b"truncated")
    prepare(tiny)
    assert OnnxQueryEncoder(tiny["fp32"], TinyModel.tokenizer, 256, 1) is not None


def bare_embedder(runtime: str, tiny: dict[str, Any]) -> Any:
    """A SentenceTransformerEmbedder's question path around the tiny model (no MiniLM load)."""
    from index.embedding import SentenceTransformerEmbedder

    emb: Any = object.__new__(SentenceTransformerEmbedder)
    emb._query_runtime, emb._cache_dir, emb._threads = runtime, tiny["cache"], 1
    emb._model, emb._model_path, emb._max_tokens = TinyModel(), tiny["model_path"], 256
    emb._short, emb._short_tried, emb._short_kind = None, False, "torch"
    emb._short_lock = threading.Lock()
    emb._encode = lambda texts, batch_size: tiny["reference"]
    return emb


@pytest.mark.parametrize(("runtime", "expected"), [
    ("onnx-int8", "onnx-int8"), ("onnx-int8-blockwise", "onnx-int8-blockwise"), ("onnx", "onnx"),
    ("auto", onnx_query.AUTO_RUNTIME), ("torch", "torch")])
def test_short_runtime_names_what_runs(tiny: dict[str, Any], runtime: str, expected: str) -> None:
    assert bare_embedder(runtime, tiny).short_runtime == expected


def test_rejected_int8_is_one_config_line(tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_query, "MIN_COSINE_INT8", 1.5)
    with pytest.raises(ConfigError) as caught:
        bare_embedder("onnx-int8", tiny).short_encoder()
    assert caught.value.one_line().startswith(
        "config error: NEWSBOT_QUERY_RUNTIME=onnx-int8: the int8 copy does not reproduce the model")


def test_rejected_blockwise_copy_is_one_config_line_and_not_kept(
    tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_query, "MIN_COSINE_BLOCKWISE", 1.5)
    with pytest.raises(ConfigError) as caught:
        bare_embedder("onnx-int8-blockwise", tiny).short_encoder()
    assert caught.value.one_line().startswith("config error: NEWSBOT_QUERY_RUNTIME=onnx-int8-blockwise: "
                                              "the blockwise int8 copy does not reproduce the model")
    assert not tiny["blockwise"].exists() and tiny["fp32"].is_file()


def test_auto_falls_back_to_the_float32_copy_when_the_blockwise_one_cannot_be_made(
    tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_blockwise_kernels(src: Path, out: Path, block: int) -> None:
        raise RuntimeError("MatMulNBits: 8 bits not supported")

    monkeypatch.setattr(onnx_query, "AUTO_RUNTIME", "onnx-int8-blockwise")
    monkeypatch.setattr(onnx_query, "quantize_blockwise_int8", no_blockwise_kernels)
    monkeypatch.setattr("index.embedding.AUTO_RUNTIME", "onnx-int8-blockwise")
    with caplog.at_level(logging.WARNING, logger="newsbot.embedding"):
        emb = bare_embedder("auto", tiny)
        assert emb.short_runtime == "onnx"  # not torch: the float32 copy still answers fast
    assert any("8 bits not supported" in r.message and "float32 copy" in r.message for r in caplog.records)
    assert not tiny["blockwise"].exists()
    with pytest.raises(ConfigError, match="8 bits not supported"):  # asked for by name: one line
        bare_embedder("onnx-int8-blockwise", tiny).short_encoder()


def test_settings_accept_onnx_int8_and_name_the_variable_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_QUERY_RUNTIME", "onnx-int8")
    assert load_index_settings().query_runtime == "onnx-int8"
    monkeypatch.setenv("NEWSBOT_QUERY_RUNTIME", "int8")
    with pytest.raises(ConfigError) as caught:
        load_index_settings()
    assert caught.value.one_line().startswith("config error: NEWSBOT_QUERY_RUNTIME:")
    assert "onnx-int8" in caught.value.one_line()
