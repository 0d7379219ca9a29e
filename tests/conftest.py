"""Shared test fixtures. Slow tests (real model, subprocesses, emulators) need ``--runslow``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.embedding import HashingEmbedder

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    """Deterministic, torch-free embedder for fast tests."""
    return HashingEmbedder()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when the shared folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path
