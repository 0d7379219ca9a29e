"""The reader's shipped files: where they live and the training record beside the weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from index.errors import ConfigError

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
