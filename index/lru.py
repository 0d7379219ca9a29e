"""One small bounded LRU map, for the stores' caches of immutable per-version data.

Not thread-safe on its own: the readers that use it already hold a lock around their cache
work, and a second lock here would only be taken twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """A map holding at most ``capacity`` entries; the least recently used go first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __getitem__(self, key: K) -> V:
        """The value (KeyError when absent), marked as just used."""
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def get(self, key: K) -> V | None:
        """The value, marked as just used; None when absent."""
        return self[key] if key in self._items else None

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def update(self, items: Mapping[K, V]) -> None:
        for key, value in items.items():
            self.put(key, value)

    def split(self, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The cached values of ``keys`` (marked as used) and, in order, the keys not cached."""
        hits: dict[K, V] = {}
        missing: list[K] = []
        for key in dict.fromkeys(keys):
            if key in self._items:
                hits[key] = self[key]
            else:
                missing.append(key)
        return hits, missing
