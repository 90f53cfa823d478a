"""A least-recently-used cache bounded by the memory of what it holds.

Models are large and unequal (a catalog of a million items against one of a
hundred), so the bound is in bytes, not entries. The newest entry is always
kept, even alone over the bound: a tenant whose model is larger than the
bound must still be served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class MemoryBoundedLRU(Generic[Value]):
    def __init__(self, max_bytes: int, size_of: Callable[[Value], int]):
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # One lock per key being loaded: two requests for a cold model load it once.
        self._loading: dict[Hashable, threading.Lock] = {}

    def get_or_load(self, key: Hashable, load: Callable[[], Value]) -> Value:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            try:
                value = load()
                size = self._size_of(value)
                # Stored before the key's loading lock goes: a request in between finds the value.
                with self._lock:
                    self._put(key, value, size)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            return value

    def _put(self, key: Hashable, value: Value, size: int) -> None:
        """The caller holds self._lock."""
        if key in self._entries:
            self._bytes -= self._entries.pop(key)[1]
        self._entries[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _evicted, (_value, evicted_size) = self._entries.popitem(last=False)
            self._bytes -= evicted_size

    def discard_where(self, predicate: Callable[[Hashable], bool]) -> None:
        """Drop the entries whose key matches (a tenant's superseded versions)."""
        with self._lock:
            for key in [key for key in self._entries if predicate(key)]:
                self._bytes -= self._entries.pop(key)[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes
