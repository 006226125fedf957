"""The executor's per-node output cache: keyed by Merkle keys, bounded by a memory
budget in bytes, least recently used entries evicted first."""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

DEFAULT_BUDGET_MB = 4096
DEFAULT_BUDGET = DEFAULT_BUDGET_MB * 1024**2


@dataclass
class CacheEntry:
    """A node's outputs plus what it showed (images) and wrote (files)."""

    values: tuple[Any, ...]
    nbytes: int
    images: tuple[Any, ...] = ()
    files: tuple[str, ...] = ()


class NodeCache:
    """LRU cache of node outputs with a byte budget. Thread-compatible, not thread-safe:
    one executor run uses it at a time."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self.nbytes = 0

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` (marked as recently used), or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CacheEntry) -> bool:
        """Store an entry, evicting old ones to stay in budget. An entry bigger than the
        whole budget is not stored; returns whether it was."""
        self.discard(key)
        if entry.nbytes > self.budget_bytes:
            return False
        self._entries[key] = entry
        self.nbytes += entry.nbytes
        while self.nbytes > self.budget_bytes:
            _, old = self._entries.popitem(last=False)
            self.nbytes -= old.nbytes
        return True

    def discard(self, key: str) -> None:
        """Forget one entry."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes

    def clear(self) -> None:
        """Forget everything (frees models and tensors held only here)."""
        self._entries.clear()
        self.nbytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def estimate_nbytes(value: Any) -> int:
    """Approximate memory held by a node output: arrays and tensors by their buffers,
    models by their parameters and buffers, containers by their items. Objects may say
    for themselves with a ``__nodegraph_nbytes__()`` method. Shared objects count once."""
    total, seen, stack = 0, set(), [value]
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        own = getattr(item, "__nodegraph_nbytes__", None)
        if callable(own):
            total += int(own())
        elif hasattr(item, "element_size") and hasattr(item, "nelement"):  # torch.Tensor
            total += int(item.element_size() * item.nelement())
        elif hasattr(item, "parameters") and hasattr(item, "buffers"):  # torch.nn.Module
            stack.extend(item.parameters())
            stack.extend(item.buffers())
        elif hasattr(item, "nbytes") and hasattr(item, "dtype"):  # numpy array
            total += int(item.nbytes)
        elif isinstance(item, dict):
            stack.extend(item.values())
            total += sys.getsizeof(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
            total += sys.getsizeof(item)
        else:
            total += sys.getsizeof(item)
    return total
