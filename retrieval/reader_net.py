"""The reader's torch network and its weight files (imported only where torch is wanted)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, BertModel

from index.embedding import resolve_model_path
from index.settings import DEFAULT_MODEL
from retrieval.reader_files import RECORD_FILE, WEIGHTS_FILE, file_sha256
from retrieval.reader_pairs import EncodedPairs

#: The packaged encoder's word-piece table: frozen in training, loaded from the package.
SHARED_PARAMETER = "encoder.embeddings.word_embeddings.weight"


#: The answer-phrase head's parameters (absent from weights trained before it existed).
SPAN_PARAMETERS = ("span.weight", "span.bias")


class CrossEncoderNet(torch.nn.Module):
    """A BERT-style encoder, a linear head on the [CLS] position (one logit per pair: "this
    sentence answers") and a span head on every position (start and end logits of the
    answer phrase, [CLS] standing for "no phrase here")."""

    def __init__(self, encoder: BertModel) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)
        self.span = torch.nn.Linear(encoder.config.hidden_size, 2)
        # Zero start: every pair begins at logit 0 (p = 0.5); training moves only the evidence.
        for layer in (self.head, self.span):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.forward_spans(input_ids, token_type_ids, attention_mask)[0]

    def forward_spans(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pair logits [B], start/end logits [B, T, 2]) from one pass."""
        out = self.encoder(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state
        logits: torch.Tensor = self.head(hidden[:, 0]).squeeze(-1)
        return logits, self.span(hidden)


def build_network(layers: int, base_model: str = DEFAULT_MODEL) -> CrossEncoderNet:
    """The base model's first ``layers`` transformer layers with its pretrained weights."""
    path = resolve_model_path(base_model)
    config = BertConfig.from_pretrained(path)
    config.num_hidden_layers = layers
    encoder = BertModel.from_pretrained(path, config=config, add_pooling_layer=False)
    return CrossEncoderNet(encoder)


def load_trained(net: CrossEncoderNet, weights: Path, fresh_span_head: bool = False) -> None:
    """Load a shipped weights file into ``net``: the word-piece table stays the package's.

    ``fresh_span_head``: a file from before the span head may be loaded (training continues
    from it, the head starting at zero). Raises ValueError (with what is missing or extra)
    when the file does not fit the network.
    """
    from safetensors.torch import load_file

    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    state[SHARED_PARAMETER] = net.state_dict()[SHARED_PARAMETER]
    missing, unexpected = net.load_state_dict(state, strict=False)
    if fresh_span_head:
        missing = [k for k in missing if k not in SPAN_PARAMETERS]
    if missing or unexpected:
        raise ValueError(f"does not fit the reader network ({missing or unexpected})")


def to_tensors(enc: EncodedPairs) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.from_numpy(enc.input_ids),
        "token_type_ids": torch.from_numpy(enc.token_type_ids),
        "attention_mask": torch.from_numpy(enc.attention_mask),
    }


def save_weights(net: torch.nn.Module, weights_dir: Path, record: dict[str, Any]) -> Path:
    """Write what training changed (fp16, without the package's word embeddings) and the record
    (training config, data hashes, the weights' own hash)."""
    from safetensors.torch import save_file

    weights_dir.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().to("cpu").half().contiguous()
        for k, v in net.state_dict().items()
        if k != SHARED_PARAMETER
    }
    out = weights_dir / WEIGHTS_FILE
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, out)
    full = {**record, "weights_sha256": file_sha256(out)}
    text = json.dumps(full, indent=2, sort_keys=True) + "\n"
    (weights_dir / RECORD_FILE).write_text(text, encoding="utf-8")
    return out
