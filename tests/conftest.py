"""Shared test fixtures. Slow tests (real model, subprocesses, emulators) need ``--runslow``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from feed_server import FeedServer

from index.embedding import HashingEmbedder
from retrieval.settings import DEFAULT_READER_CANDIDATES, RetrievalSettings, load_retrieval_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
#: Fast tests run the answerer without the trained reader (no torch, no weights); the tests
#: of the reader itself and the real-model tests switch it on explicitly (``reader_settings``).
os.environ.setdefault("NEWSBOT_READER_CANDIDATES", "0")


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


#: The confidence threshold for answerers on the HashingEmbedder. Its cosines are far below a
#: real model's (word hashes, no meaning), so the calibration fitted on the real model gives it
#: lower confidences across the board; what the fast tests check is the ranking and the
#: abstain/answer split between covered and uncovered questions, at this scaled-down threshold.
#: The real-model tests use the default.
HASHING_CONFIDENCE_THRESHOLD = 0.2


@pytest.fixture(scope="session")
def hashing_settings() -> RetrievalSettings:
    """Retrieval settings for answerers on the HashingEmbedder."""
    return load_retrieval_settings(confidence_threshold=HASHING_CONFIDENCE_THRESHOLD, reader_candidates=0)


def reader_settings(**overrides: object) -> RetrievalSettings:
    """Retrieval settings with the shipped reader on at its default depth (real-model tests)."""
    return load_retrieval_settings(reader_candidates=DEFAULT_READER_CANDIDATES, **overrides)


@pytest.fixture
def srv() -> Iterator[FeedServer]:
    """A local feed and article server (tests/feed_server.py) for the live-feed tests."""
    with FeedServer() as server:
        yield server


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when the shared folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path
