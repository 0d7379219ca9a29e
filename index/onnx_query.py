"""A lean path for short encodes (a user's question): the same model, run by ONNX Runtime.

A single question spends most of its time in sentence-transformers' and torch's per-call
overhead and in reading the weights, not in arithmetic: through ONNX Runtime the same MiniLM
encodes a question about 2.5x faster on one thread with the same vector (cosine 1.0000), and
with its MatMul weights in blockwise int8 about 1.3x faster again with nearly the same
(cosine 0.9999; bench/latency_bench.py prints torch against what runs). Batch encodes
(indexing) stay on torch, where bf16 on AMX wins.

The ONNX file is exported by our own code (``sentence-transformers[onnx]`` would downgrade
sentence-transformers) from the loaded model, once per model, into the cache directory. What
runs is a copy derived from it: ONNX Runtime's transformer fusions (one Attention kernel per
layer, fused LayerNorm and GELU; ``fuse_bert_graph``) for float32; that fused graph with its
remaining MatMul weights in blockwise int8 (``quantize_blockwise_int8``); or dynamic int8. A
copy is kept only if it reproduces the torch vectors on ``PROBES``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import secrets
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

log = logging.getLogger("newsbot.embedding")

#: Whatever ``open_cached``'s opener makes of a cached file (an encoder, a reader).
OpenedT = TypeVar("OpenedT")

#: ``NEWSBOT_QUERY_RUNTIME``: ``auto`` uses ONNX Runtime for short encodes when it is
#: installed and the export reproduces the model (``AUTO_RUNTIME`` says which file); ``torch``
#: never; ``onnx`` requires the fused float32 copy; ``onnx-int8-blockwise`` its blockwise int8
#: copy (``quantize_blockwise_int8``: faster, vectors within cosine 0.999 of torch's);
#: ``onnx-int8`` the dynamic int8 copy (``quantize_int8``: about 3x faster, cosine ~0.995).
QueryRuntime = Literal["auto", "torch", "onnx", "onnx-int8-blockwise", "onnx-int8"]
#: The ONNX copies a question (or the reader) can run as.
OnnxRuntimeKind = Literal["onnx", "onnx-int8-blockwise", "onnx-int8"]
#: The ONNX path ``auto`` takes (falling back to torch when it fails): the blockwise int8 copy.
#: Chosen by the quality A/B ``NEWSBOT_QUERY_RUNTIME=onnx`` vs ``onnx-int8-blockwise`` of
#: ``bench/reader_bench.py --limit 800 --skip latency,selqa`` (AMD EPYC, 3 Dec 2026, one run
#: each, reader on): SQuAD-open v1.1 hit@1/hit@3 the user's way 74.4/85.0 -> 74.5/84.9, v2.0
#: "I don't know" 25.1% at 6.8% false abstention both; the 236 news questions 58.1/80.1 ->
#: 58.6/80.1, uncovered 74.0% and false abstention 4.8% both. Its encode is ~1.3x faster than
#: the fused float32 copy's (``bench/latency_bench.py`` prints the stage). Dynamic int8
#: (``onnx-int8``, ~3x faster) stays opt-in: in the same A/B on an Intel Xeon with AMX the news
#: questions went 59.7/79.6 -> 59.1/78.5, over issue 12's 0.5-point bound (keeping its
#: feed-forward down-projections in float32 lost the same two questions).
AUTO_RUNTIME: OnnxRuntimeKind = "onnx-int8-blockwise"
#: The ONNX opset the export targets (supported by every onnxruntime since 1.12).
ONNX_OPSET = 17
#: Bumped when the export itself changes, so a cached file from an older export is not reused
#: (2: eager attention, the graph ONNX Runtime's fusions recognise).
EXPORT_FORMAT = 2
#: Texts the export must reproduce before it is used (short and long, numbers, accents).
PROBES = (
    "How many people died in the Karabakh fighting?",
    "Who chairs Ryanair?",
    "It took £7.2m in its first weekend, a record for a debut director.",
    "Le ministre a déclaré que les négociations reprendraient lundi à Genève. " * 8,
)
#: The lowest cosine to the torch vector an export may give on a probe.
MIN_COSINE = 0.9999
#: The same for the int8 copy: dynamic int8 with per-channel weights gave min 0.9907 /
#: mean 0.9952 over 900 bench questions (per-tensor weights: mean 0.970, not accepted).
MIN_COSINE_INT8 = 0.98
#: The same for the blockwise int8 copy: min 0.9998 / mean 0.9999 over 300 bench questions
#: with ``QUERY_WEIGHT_BLOCK`` (dynamic int8: 0.9907 / 0.9952; one-off).
MIN_COSINE_BLOCKWISE = 0.999
#: The question encoder's blockwise int8 copy: one scale per this many weights of a column.
#: One-off, AMD EPYC, 1 thread, 300 questions: 32 gave cosine 0.9999 (mean) at 4.0 ms a
#: question, 128 gave 0.9997 at 3.3 ms, the fused float32 copy 5.3 ms. With 128 the 236 news
#: questions lost one answer from the top 3 (a confidence 0.006 under the threshold); with 32
#: none (``AUTO_RUNTIME``'s A/B).
QUERY_WEIGHT_BLOCK = 32


def query_copy_check(kind: OnnxRuntimeKind) -> tuple[float, str]:
    """The lowest cosine ``kind``'s copy may give on ``PROBES``, and what an error calls it."""
    if kind == "onnx":
        return MIN_COSINE, "fused copy"
    if kind == "onnx-int8-blockwise":
        return MIN_COSINE_BLOCKWISE, "blockwise int8 copy"
    return MIN_COSINE_INT8, "int8 copy"


def onnx_runtime_installed() -> bool:
    """onnxruntime to run and onnx to export are both importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def export_name(model_path: str, max_tokens: int) -> str:
    """A file name that changes whenever the model's files or the export's inputs change."""
    digest = hashlib.sha256(f"{ONNX_OPSET}|{EXPORT_FORMAT}|{max_tokens}".encode())
    root = Path(model_path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []:
        stat = file.stat()
        digest.update(f"{file.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return f"query-encoder-{digest.hexdigest()[:16]}.onnx"


def int8_name(fp32_name: str) -> str:
    """The int8 copy's file name, beside the float32 export it is made from."""
    stem = fp32_name.removesuffix(".onnx")
    return f"{stem}-int8-pc-matmul.onnx"


def fused_name(fp32_name: str) -> str:
    """The fused float32 copy's file name, beside the export it is made from."""
    return f"{fp32_name.removesuffix('.onnx')}-fused.onnx"


def blockwise_name(fp32_name: str, block: int) -> str:
    """The fused blockwise int8 copy's file name, beside the export it is made from."""
    return f"{fp32_name.removesuffix('.onnx')}-fused-int8-b{block}.onnx"


def derived_name(export: str, kind: OnnxRuntimeKind, block: int) -> str:
    """The file that runs for ``kind`` (``block``: the blockwise copy's), beside the float32
    export it is made from."""
    if kind == "onnx":
        return fused_name(export)
    return blockwise_name(export, block) if kind == "onnx-int8-blockwise" else int8_name(export)


def derive_copy(export: Path, out: Path, kind: OnnxRuntimeKind, heads: int, width: int, block: int) -> None:
    """Make the copy of ``export`` that runs for ``kind``: fused float32, fused then blockwise
    int8 (``block`` weights a scale), or dynamic int8 (the question encoder's and the reader's
    exports alike)."""
    if kind == "onnx-int8":
        quantize_int8(export, out)
    elif kind == "onnx":
        fuse_bert_graph(export, out, heads, width)
    else:
        fused = out.with_name(f".{out.name}.fused-{secrets.token_hex(4)}")
        try:
            fuse_bert_graph(export, fused, heads, width)
            quantize_blockwise_int8(fused, out, block)
        finally:
            fused.unlink(missing_ok=True)


def open_cached(path: Path, opener: Callable[[Path], OpenedT]) -> OpenedT | None:
    """``opener(path)`` for a cached file, or None when there is none or it does not open (a
    damaged file is removed, to be made again)."""
    if not path.is_file():
        return None
    try:
        return opener(path)
    except Exception:  # onnxruntime raises its own types for a damaged file
        path.unlink(missing_ok=True)
        return None


def fuse_bert_graph(src: Path, out: Path, heads: int, width: int) -> None:
    """Write ``src`` with ONNX Runtime's BERT fusions applied to ``out`` (atomically).

    The same float32 arithmetic in fewer, larger kernels: each layer's attention becomes one
    ``Attention`` node, residual + LayerNorm one ``SkipLayerNormalization``, bias + GELU one
    ``BiasGelu``. ``heads`` and ``width`` (hidden size) are the model's: the fusion cannot
    tell them from this graph.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    fusion_log = logging.getLogger()  # each fusion pass logs its notes under its own module name
    level = fusion_log.level
    try:
        fusion_log.setLevel(max(level, logging.ERROR))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fused = optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=width)
            fused.save_model_to_file(str(tmp))
        os.replace(tmp, out)
    finally:
        fusion_log.setLevel(level)
        tmp.unlink(missing_ok=True)


def quantize_int8(src: Path, out: Path) -> None:
    """Write an int8 copy of the float32 export ``src`` to ``out`` (atomically).

    Dynamic quantization (weights int8 per output channel, activations quantized per call) of
    the MatMuls only: per-channel weights keep the vectors close (per-tensor ones do not).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    quant_log = logging.getLogger()  # the quantizer warns about pre-processing on the root logger
    level = quant_log.level
    try:
        quant_log.setLevel(max(level, logging.ERROR))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        os.replace(tmp, out)
    finally:
        quant_log.setLevel(level)
        tmp.unlink(missing_ok=True)


def quantize_blockwise_int8(src: Path, out: Path, block: int) -> None:
    """Write ``src`` with its MatMul weights in blockwise int8 to ``out`` (atomically).

    Each column's weights are cut into blocks of ``block`` with a scale of their own
    (ONNX Runtime's ``MatMulNBits``, 8 bits, symmetric), and the kernel quantizes its input per
    block too (``accuracy_level`` 4: int8 arithmetic). Per-block scales follow the weights far
    more closely than dynamic int8's one scale per column and per call. The fused graph's
    ``Attention`` nodes keep their float32 weights (they are not MatMuls).
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    # It logs a line per graph node at INFO; the root logger may be at INFO under --verbose.
    quant_log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quant_log.level
    try:
        quant_log.setLevel(logging.WARNING)
        config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True,
                                              accuracy_level=4, bits=8)
        quantizer = MatMulNBitsQuantizer(onnx.load(str(src)), algo_config=config)
        quantizer.process()
        quantizer.model.save_model_to_file(str(tmp), False)
        os.replace(tmp, out)
    finally:
        quant_log.setLevel(level)
        tmp.unlink(missing_ok=True)


def export_query_encoder(model: Any, out: Path) -> None:
    """Export ``model`` (a loaded SentenceTransformer with mean pooling) to ``out``.

    Raises RuntimeError when the model is not one this export reproduces.
    """
    import torch
    from transformers import AutoModel

    live = model[0].auto_model
    # Eager attention traces to plain MatMul/Softmax, the pattern ONNX Runtime fuses into one
    # Attention kernel (the default SDPA traces to a graph it leaves unfused); same weights.
    transformer = AutoModel.from_config(live.config, attn_implementation="eager")
    transformer.load_state_dict(live.state_dict())
    transformer.eval()

    class MeanPooled(torch.nn.Module):
        """Token embeddings, mean over the attention mask, unit length: the model's pooling."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    sample = model.tokenizer([PROBES[0]], return_tensors="pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    try:
        # The tracer's notes (constant shapes, advanced indexing) are about graphs in general;
        # this one is checked against torch on ``PROBES`` before it is used.
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                MeanPooled().eval(), (sample["input_ids"], sample["attention_mask"]), str(tmp),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                              "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                opset_version=ONNX_OPSET, dynamo=False,
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class OnnxQueryEncoder:
    """Short encodes through ONNX Runtime: tokenizer, one session run, float32 unit vectors."""

    def __init__(self, path: Path, tokenizer: Any, max_tokens: int, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no graph-optimisation chatter on stderr
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        enc = self._tokenizer(list(texts), padding=True, truncation=True, max_length=self._max_tokens,
                              return_tensors="np")
        feed = {"input_ids": enc["input_ids"].astype(np.int64),
                "attention_mask": enc["attention_mask"].astype(np.int64)}
        vecs: np.ndarray = self._session.run(None, feed)[0]
        return np.ascontiguousarray(vecs, dtype=np.float32)


def reproduces(encoder: OnnxQueryEncoder, reference: np.ndarray) -> float:
    """The lowest cosine between the encoder's vectors of ``PROBES`` and ``reference``."""
    vecs = encoder.encode(PROBES)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(vecs * reference, axis=1)))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/newsbot`` (``~/.cache/newsbot``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsbot"


def prepare_query_encoder(
    model: Any, model_path: str, max_tokens: int, threads: int, cache_dir: Path,
    kind: OnnxRuntimeKind, reference: Callable[[], np.ndarray],
) -> OnnxQueryEncoder:
    """The ONNX encoder of ``kind`` from ``cache_dir``: exported, then fused (``onnx``), fused
    and quantized (``onnx-int8-blockwise``) or quantized (``onnx-int8``) on first use.

    A new file is kept only if it reproduces ``reference()`` (the torch vectors of ``PROBES``)
    to its kind's bound (``query_copy_check``); a cached file that does not open is made again. Raises
    RuntimeError when the export is not good enough.
    """
    if not onnx_runtime_installed():
        raise RuntimeError("onnxruntime and onnx are not installed")
    export = cache_dir / export_name(model_path, max_tokens)
    path = cache_dir / derived_name(export.name, kind, QUERY_WEIGHT_BLOCK)

    def opened(file: Path) -> OnnxQueryEncoder:
        return OnnxQueryEncoder(file, model.tokenizer, max_tokens, threads)

    cached = open_cached(path, opened)
    if cached is not None:
        return cached
    expected = reference()
    if open_cached(export, opened) is None:
        log.warning("preparing the ONNX query encoder for %s in %s (once per model, ~15 s)",
                    model_path, cache_dir)
        export_query_encoder(model, export)
        _checked(opened(export), export, expected, MIN_COSINE, "export")
    if kind != "onnx":
        log.warning("preparing the %s ONNX query encoder in %s (once per model, ~5 s)", kind, cache_dir)
    config = model[0].auto_model.config
    derive_copy(export, path, kind, config.num_attention_heads, config.hidden_size, QUERY_WEIGHT_BLOCK)
    return _checked(opened(path), path, expected, *query_copy_check(kind))


def _checked(
    encoder: OnnxQueryEncoder, path: Path, expected: np.ndarray, bound: float, what: str
) -> OnnxQueryEncoder:
    """``encoder`` if it reproduces ``expected`` to ``bound``; else ``path`` is removed and
    RuntimeError names ``what`` failed."""
    cosine = reproduces(encoder, expected)
    if cosine < bound:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"the {what} does not reproduce the model (cosine {cosine:.5f} < {bound})")
    return encoder
