"""The one bounded LRU map behind the stores' caches."""

from __future__ import annotations

import pytest

from index.lru import BoundedLRU


def test_least_recently_used_entries_leave_first() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache["c"] == 3
    assert len(cache) == 2


def test_split_returns_hits_and_the_missing_keys_in_order() -> None:
    cache: BoundedLRU[int, str] = BoundedLRU(10)
    cache.update({1: "one", 3: "three"})
    hits, missing = cache.split([3, 2, 1, 4, 2])
    assert hits == {3: "three", 1: "one"} and missing == [2, 4]
    with pytest.raises(ValueError):
        BoundedLRU(0)
