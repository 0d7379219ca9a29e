"""The reader through ONNX Runtime: the same trained network, exported by our own code.

The reader is most of an answer's time (4 pairs of ~100 word pieces through 4 transformer
layers). ONNX Runtime's dynamic int8 kernels read them 1.74x faster than torch bf16
(``bench/latency_bench.py`` prints the reader stage of both in one run), with logits close to
but not the same as torch's: which runtime answers by default is a measured choice
(``reader.AUTO_READER_RUNTIME`` says what was measured). The export and its derived copy are
made once per weights file in the cache directory (``NEWSBOT_CACHE_DIR``), named by the
weights' hash, and a copy is used only if it reproduces the torch reader on ``PROBE_PAIRS``.

The machinery (fusion, int8 quantization, file naming) is the question encoder's
(``index/onnx_query.py``); what differs is the graph: three inputs, two outputs.
"""

from __future__ import annotations

import logging
import os
import secrets
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.onnx_query import (
    ONNX_OPSET,
    OnnxRuntimeKind,
    derive_copy,
    derived_name,
    onnx_runtime_installed,
    open_cached,
)
from retrieval.reader_files import file_sha256, reader_spec
from retrieval.reader_pairs import (
    EncodedPairs,
    InputLimits,
    ReaderPair,
    Reading,
    encode_pairs,
    read_in_batches,
)
from retrieval.reader_torch import CrossEncoderReader, load_tokenizer

log = logging.getLogger("newsbot.reader")

#: The ONNX copies the reader runs as: the question encoder's kinds.
OnnxReaderKind = OnnxRuntimeKind
#: Bumped when the export changes, so an older cached export is not reused.
READER_EXPORT_FORMAT = 1
#: Pairs every copy must read like torch before it is used: short and long sentences, a
#: number, accents, with and without context.
PROBE_PAIRS = (
    ReaderPair("Who chairs Ryanair?", "Ryanair chairman David Bonderman said the airline would keep growing.",
               "Ryanair orders more Boeing jets", "The airline reported results on Monday."),
    ReaderPair("Who chairs Ryanair?", "The deputy chief executive said the Boeing order was its biggest.",
               "Ryanair orders more Boeing jets"),
    ReaderPair("How much did the film take?",
               "It took £7.2m in its first weekend, a record for a debut director.",
               "Harbour Lights breaks box office record", "The film opened on Friday in 400 cinemas."),
    ReaderPair("Où les négociations reprendront-elles ?",
               "Le ministre a déclaré que les négociations reprendraient lundi à Genève. " * 4),
)
#: The largest difference in logit a float32 copy may show against torch fp32 on the probes.
MAX_LOGIT_ERROR = 1e-3
#: The same for the int8 copy: a sanity bound that a broken graph fails by far (the shipped
#: reader's int8 copy differs by 0.25 logit on average and 1.4 at most over 600 pairs of 150
#: training groups, one-off); its answers are judged by the bench A/B (``reader.py``).
MAX_LOGIT_ERROR_INT8 = 1.5
#: The same for the blockwise int8 copy (0.04 logit on average and 0.2 at most over the same
#: 600 pairs, and the same first sentence in all 150 groups; one-off).
MAX_LOGIT_ERROR_BLOCKWISE = 0.5
#: The reader's blockwise int8 copy: one scale per this many weights of a column. Its pairs
#: are long enough to be arithmetic-bound: 4 pairs took 49.9 ms with 128, 59.4 with 32, 61.0
#: in the fused float32 copy (one-off, AMD EPYC, 1 thread).
READER_WEIGHT_BLOCK = 128


def reader_copy_check(kind: OnnxReaderKind) -> tuple[float, str]:
    """The largest logit error ``kind``'s copy may show on ``PROBE_PAIRS``, and what an error
    calls it."""
    if kind == "onnx":
        return MAX_LOGIT_ERROR, "fused copy"
    if kind == "onnx-int8-blockwise":
        return MAX_LOGIT_ERROR_BLOCKWISE, "blockwise int8 copy"
    return MAX_LOGIT_ERROR_INT8, "int8 copy"


def reader_export_name(weights_sha256: str, limits: InputLimits) -> str:
    """The export's file name: changes with the weights, the input limits and the export."""
    shape = f"{limits.question}-{limits.sentence}-{limits.context}"
    return f"reader-{weights_sha256[:16]}-{shape}-o{ONNX_OPSET}-f{READER_EXPORT_FORMAT}.onnx"


def export_reader(reader: CrossEncoderReader, out: Path) -> None:
    """Export ``reader``'s network with eager attention to ``out`` (atomically).

    ``reader`` must be loaded in float32: a bf16 network's weights are already rounded.
    """
    if reader.precision != "fp32":
        raise ValueError(f"the reader to export must be loaded in fp32, not {reader.precision}")
    import copy

    import torch
    from transformers import AutoModel

    from retrieval.reader_net import to_tensors

    net = copy.deepcopy(reader.network).eval()
    # Eager attention traces to the MatMul/Softmax pattern ONNX Runtime fuses; same weights.
    eager = AutoModel.from_config(net.encoder.config, attn_implementation="eager", add_pooling_layer=False)
    eager.load_state_dict(net.encoder.state_dict())
    net.encoder = eager.eval()

    class Spans(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                    attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.net.forward_spans(input_ids, token_type_ids, attention_mask)

    sample = to_tensors(encode_pairs(reader.tokenizer, PROBE_PAIRS[:2], reader.limits))
    names = ["input_ids", "token_type_ids", "attention_mask"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes; the copy is checked on the probes
            torch.onnx.export(
                Spans().eval(), tuple(sample[n] for n in names), str(tmp),
                input_names=names, output_names=["logits", "token_logits"],
                dynamic_axes={**{n: {0: "pairs", 1: "tokens"} for n in names},
                              "logits": {0: "pairs"}, "token_logits": {0: "pairs", 1: "tokens"}},
                opset_version=ONNX_OPSET, dynamo=False,
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class OnnxReader:
    """The reader run by ONNX Runtime: same tokenizer, pairs and phrase decoding as torch's."""

    def __init__(self, path: Path, tokenizer: Any, limits: InputLimits, marks_phrases: bool,
                 threads: int, runtime: OnnxReaderKind, batch_size: int = 32) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tok = tokenizer
        self.limits = limits
        self.marks_phrases = marks_phrases
        #: What runs it, as benches print it.
        self.runtime: str = runtime
        self.batch_size = batch_size

    def read(self, pairs: Sequence[ReaderPair]) -> Reading:
        return read_in_batches(self._tok, pairs, self.limits, self.batch_size, self._run, self.marks_phrases)

    def _run(self, enc: EncodedPairs) -> tuple[np.ndarray, np.ndarray]:
        feed = {"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids,
                "attention_mask": enc.attention_mask}
        logits, token_logits = self._session.run(None, feed)
        return np.asarray(logits, dtype=np.float32), np.asarray(token_logits, dtype=np.float32)


def logit_error(candidate: OnnxReader, reference: np.ndarray) -> float:
    """The largest |logit difference| between ``candidate`` and ``reference`` on the probes."""
    return float(np.max(np.abs(candidate.read(list(PROBE_PAIRS)).logits - reference)))


def prepare_onnx_reader(weights_dir: Path, cache_dir: Path, kind: OnnxReaderKind, threads: int) -> OnnxReader:
    """The ONNX reader of ``kind`` for the weights in ``weights_dir``, from ``cache_dir``.

    On first use (per weights file) the torch reader is loaded in float32, exported, then fused
    (``onnx``), fused and quantized (``onnx-int8-blockwise``) or quantized (``onnx-int8``); the
    copy is kept only if it reproduces the torch logits on ``PROBE_PAIRS`` to its kind's bound
    (``reader_copy_check``). Later a cached copy opens without torch. Raises RuntimeError when
    ONNX Runtime is missing or the copy does not reproduce the reader.
    """
    if not onnx_runtime_installed():
        raise RuntimeError("onnxruntime and onnx are not installed")
    spec = reader_spec(weights_dir)
    name = reader_export_name(file_sha256(spec.weights), spec.limits)
    path = cache_dir / derived_name(name, kind, READER_WEIGHT_BLOCK)
    # The export is only a step to its copy: a name of this process's own, so two processes
    # preparing at once (the bot and a CLI command on first use) never remove each other's.
    export = cache_dir / f".{name.removesuffix('.onnx')}.{os.getpid()}-{secrets.token_hex(4)}.onnx"
    tokenizer = load_tokenizer(spec.base_model)

    def opened(file: Path) -> OnnxReader:
        return OnnxReader(file, tokenizer, spec.limits, spec.marks_phrases, threads, kind)

    cached = open_cached(path, opened)
    if cached is not None:
        return cached
    log.warning("preparing the %s reader in %s (once per weights file, ~20 s)", kind, cache_dir)
    torch_reader = CrossEncoderReader(weights_dir, "fp32")
    reference = torch_reader.read(list(PROBE_PAIRS)).logits
    export_reader(torch_reader, export)
    try:
        _checked(opened(export), export, reference, MAX_LOGIT_ERROR, "export")
        config = torch_reader.network.encoder.config
        derive_copy(export, path, kind, config.num_attention_heads, config.hidden_size, READER_WEIGHT_BLOCK)
        return _checked(opened(path), path, reference, *reader_copy_check(kind))
    finally:
        export.unlink(missing_ok=True)  # only its derived copy runs


def _checked(candidate: OnnxReader, path: Path, reference: np.ndarray, bound: float, what: str) -> OnnxReader:
    error = logit_error(candidate, reference)
    if error > bound:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"the reader's {what} does not reproduce it (logit error {error:.4f} > {bound})")
    return candidate
