"""The reader's shipped files: where they live and the training record beside the weights."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.errors import ConfigError
from index.settings import DEFAULT_MODEL
from retrieval.reader_pairs import InputLimits

#: Where the shipped weights and their record live.
WEIGHTS_DIR = Path(__file__).resolve().parent / "reader_weights"
WEIGHTS_FILE = "reader.safetensors"
RECORD_FILE = "reader.json"


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


@dataclass(frozen=True)
class ReaderSpec:
    """What a weights folder's record says about the reader it holds."""

    weights: Path
    limits: InputLimits
    base_model: str
    layers: int
    #: Weights trained without span supervision have no span head (it stays zero, unused).
    marks_phrases: bool


def reader_spec(weights_dir: Path) -> ReaderSpec:
    """The record of ``weights_dir`` read (a ConfigError line when it or the weights are missing)."""
    record = load_record(weights_dir)
    weights = weights_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise ConfigError(f"{weights}: the reader's weights are missing")
    try:
        return ReaderSpec(
            weights=weights,
            limits=InputLimits(**record["limits"]),
            base_model=str(record.get("base_model", DEFAULT_MODEL)),
            layers=int(record["layers"]),
            marks_phrases=float(record.get("config", {}).get("span_weight", 0.0)) > 0,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{weights_dir / RECORD_FILE}: not a reader record ({exc!r})") from None


def file_sha256(path: Path) -> str:
    """The file's sha256 (the record names the weights by it; the ONNX copies are named by it)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
