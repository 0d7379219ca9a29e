"""Per-chat conversation memory for follow-up questions (pure; the clock is injected).

Bounded three ways: turns per chat, age of a turn, and number of chats (least recently
active chats are forgotten first), so a busy bot's memory stays flat.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ChatHistory(Generic[T]):
    """The last ``max_turns`` turns of each chat, none older than ``max_age`` seconds."""

    def __init__(
        self,
        max_turns: int,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 10_000,
    ) -> None:
        self.max_turns = max_turns
        self.max_age = max_age
        self._clock = clock
        self._max_chats = max_chats
        self._chats: OrderedDict[int, deque[tuple[float, T]]] = OrderedDict()
        # Handlers of one chat can run concurrently (concurrent_updates): keep updates atomic.
        self._lock = threading.Lock()

    def get(self, chat_id: int) -> list[T]:
        """The chat's live turns, oldest first."""
        with self._lock:
            turns = self._chats.get(chat_id)
            if not turns:
                return []
            self._expire(turns)
            if not turns:
                del self._chats[chat_id]
                return []
            return [turn for _, turn in turns]

    def add(self, chat_id: int, turn: T) -> None:
        if self.max_turns <= 0:
            return
        with self._lock:
            turns = self._chats.get(chat_id)
            if turns is None:
                turns = deque(maxlen=self.max_turns)
                self._chats[chat_id] = turns
                while len(self._chats) > self._max_chats:
                    self._chats.popitem(last=False)
            else:
                self._chats.move_to_end(chat_id)
            turns.append((self._clock(), turn))

    def clear(self, chat_id: int) -> None:
        with self._lock:
            self._chats.pop(chat_id, None)

    def __len__(self) -> int:
        return len(self._chats)

    def _expire(self, turns: deque[tuple[float, T]]) -> None:
        now = self._clock()
        while turns and now - turns[0][0] > self.max_age:
            turns.popleft()
