"""The reader on torch: the trained network loaded offline, read in fp32 or bf16."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from index.embedding import resolve_model_path
from index.errors import ConfigError
from retrieval.reader_files import WEIGHTS_DIR, reader_spec
from retrieval.reader_pairs import EncodedPairs, ReaderPair, Reading, read_in_batches


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


def load_tokenizer(base_model: str) -> Any:
    """The packaged model's word-piece tokenizer (the reader's vocabulary is the encoder's)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(base_model))
