"""Thread policy: answering uses one torch thread, building uses every core.

A question is a few dozen word pieces: split over two threads on a busy 2-core machine its
encode went from ~15 ms to ~500 ms. These tests check which commands get which policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index import embedding
from index.embedding import HashingEmbedder, threads_for, usable_cores
from index.models import Article
from index.pipeline import apply_changes
from index.settings import IndexSettings
from retrieval import Answerer


def test_answering_uses_one_thread_and_building_every_core() -> None:
    assert threads_for(0, "interactive") == 1
    assert threads_for(0, "batch") == usable_cores() >= 1


def test_an_explicit_thread_setting_wins_for_both() -> None:
    assert threads_for(3, "interactive") == 3
    assert threads_for(3, "batch") == 3


def test_answerer_loads_its_model_with_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "idx"
    article = Article(id="film-1", title="Harbour Lights sets a record", body="It took £7.2m in three days.")
    apply_changes([article], (), IndexSettings(index_dir=index_dir, model="hashing-test"),
                  HashingEmbedder(), replace_all=True)
    seen: list[int] = []
    runtimes: list[str] = []

    def fake_load(model: str, threads: int = 0, precision: str = "auto", query_runtime: str = "torch",
                  cache_dir: object = None) -> HashingEmbedder:
        seen.append(threads)
        runtimes.append(query_runtime)
        return HashingEmbedder()

    monkeypatch.setattr("retrieval.answerer.load_embedder", fake_load)
    monkeypatch.delenv("NEWSBOT_TORCH_THREADS", raising=False)
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    Answerer(index_dir)
    assert seen == [1]
    monkeypatch.setenv("NEWSBOT_TORCH_THREADS", "2")
    Answerer(index_dir)
    assert seen == [1, 2]
    assert runtimes == ["auto", "auto"]  # questions take the ONNX path when it is available


def test_batch_configuration_pins_torch_to_every_core() -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        assert embedding.configure_torch_threads(0) == usable_cores() == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
