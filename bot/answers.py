"""The bot's bounded in-memory state for buttons: the answers their buttons expand, and the
updates already seen. Bounded LRUs, so a long-running bot never grows without limit."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from retrieval.models import Answer


@dataclass
class AnswerState:
    """What the buttons under one answer need: kept server-side (callback data is 64 bytes)."""

    answer: Answer
    chat_id: int
    message_ids: list[int]
    shown_alternatives: int = 0
    exhausted: bool = False


class AnswerStore:
    """A bounded LRU of answers keyed by a short random id (the id goes in callback data)."""

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, AnswerState] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, state: AnswerState) -> str:
        key = secrets.token_urlsafe(6)  # 8 characters
        with self._lock:
            self._items[key] = state
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> AnswerState | None:
        with self._lock:
            state = self._items.get(key)
            if state is not None:
                self._items.move_to_end(key)
            return state

    def __len__(self) -> int:
        return len(self._items)


class BoundedSet:
    """Remembers up to ``capacity`` keys (oldest forgotten first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """True if the key was new."""
        if key in self._items:
            return False
        self._items[key] = None
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return True
