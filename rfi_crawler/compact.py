"""``HashSet``: a set that grows with the crawl, kept as 64-bit hashes (~10 bytes a member).

A Python set of URLs or fingerprints costs ~100 bytes a member (the object and its slot);
over a 300,000-article backfill that is tens of MB for each such set. Here a member is 8
bytes in a sorted ``array`` plus, until the next merge, a slot in a small set of recent
ones. Members are hashed to 64 bits: two different members collide with probability about
n²/2⁶⁵ (3 in 10⁸ for a million), and a collision only makes a member look seen already.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from hashlib import blake2b

_MERGE_AT = 4096  # recent members before a merge, at least; else an eighth of the merged


def hash64(value: str | bytes) -> int:
    """A stable 64-bit hash (``hash()`` of str changes with every process)."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")


class HashSet:
    def __init__(self) -> None:
        self._merged = array("Q")  # sorted
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._merged) + len(self._recent)

    def __contains__(self, value: str | bytes) -> bool:
        return self.has_key(hash64(value))

    def add(self, value: str | bytes) -> None:
        self.add_key(hash64(value))

    def has_key(self, key: int) -> bool:
        if key in self._recent:
            return True
        merged = self._merged
        at = bisect_left(merged, key)
        return at < len(merged) and merged[at] == key

    def add_key(self, key: int) -> None:
        if self.has_key(key):
            return
        self._recent.add(key)
        if len(self._recent) >= max(_MERGE_AT, len(self._merged) // 8):
            # Streamed into the new array: no list of every member on the way.
            self._merged = array("Q", heapq.merge(self._merged, sorted(self._recent)))
            self._recent = set()
