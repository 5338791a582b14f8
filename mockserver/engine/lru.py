"""A least-recently-used cache bounded by bytes, not entries.

An entry bound cap lets a cache of 1,024 prompts hold a few KB or 128 MB, as the prompts come;
the fake's caches are bounded by the memory their entries take (``sys.getsizeof`` of the key
text and the value, an estimate that is exact for ``str`` and ``bytes``).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class SizedLRU(Generic[Value]):
    """``get``/``put`` in LRU order; the least recently used entries leave when the entries'
    sizes add up to more than ``budget`` bytes. An entry larger than ``max_entry`` bytes is
    not kept at all. Thread-safe (the engine runs in several threads)."""

    def __init__(
        self,
        budget: int,
        *,
        max_entry: int | None = None,
        size_of: Callable[[Hashable, Value], int] | None = None,
    ) -> None:
        self.budget = budget
        self.max_entry = budget // 8 if max_entry is None else max_entry
        self._size_of = size_of or (lambda key, value: _size(key) + _size(value))
        self._items: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Value | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Value) -> None:
        size = self._size_of(key, value) + 100  # the dict slot and the tuple, roughly
        if size > self.max_entry:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._items[key] = (value, size)
            self.size += size
            while self.size > self.budget and self._items:
                _, (_, freed) = self._items.popitem(last=False)
                self.size -= freed

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


def _size(value: object) -> int:
    """``sys.getsizeof``, and of a tuple's items too (keys are tuples of strings)."""
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(map(sys.getsizeof, value))
    return sys.getsizeof(value)
