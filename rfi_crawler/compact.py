"""A set and maps that grow with the crawl, kept as 64-bit hashes in arrays.

A Python set of URLs or fingerprints costs ~100 bytes a member (the object and its slot);
over a 300,000-article backfill that is tens of MB for each such set. Worse, each member
is a small object that lives as long as the crawl, allocated among each page's short-lived
ones: it pins the allocator's memory around it, so the process grows faster than its
live objects do. Here a member is 8 bytes in a sorted ``array`` (and a map's value 4
more), with no Python object per member: the recent members in a small sorted array,
merged into the large one every 4,096 (a merge copies the large array once, in C, and
loops in Python over the recent members only). Members are hashed to 64 bits: two different
members collide with probability about n²/2⁶⁵ (3 in 10⁸ for a million), and a collision
only makes a member look seen already.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from hashlib import blake2b
from typing import Any

_MERGE_AT = 4096  # recent members before a merge: inserting one moves up to 32 KB


def hash64(value: str | bytes) -> int:
    """A stable 64-bit hash (``hash()`` of str changes with every process)."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")


def _slot(keys: array, key: int) -> tuple[int, bool]:
    """Where ``key`` is, or would go, in the sorted ``keys``; and whether it is there."""
    at = bisect_left(keys, key)
    return at, at < len(keys) and keys[at] == key


def _find(keys: array, key: int) -> int:
    """Where ``key`` is in the sorted ``keys``, or -1."""
    at, there = _slot(keys, key)
    return at if there else -1


def _places(keys: array, recent: array) -> list[int]:
    """Where each of the sorted ``recent`` (none in ``keys``) goes in the sorted ``keys``."""
    places, at = [], 0
    for key in recent:
        at = bisect_left(keys, key, at)
        places.append(at)
    return places


def _interleaved(large: array, small: array, places: list[int]) -> array:
    """``large`` with each of ``small`` inserted before the member at its place."""
    merged, start = array(large.typecode), 0
    for at, member in zip(places, small, strict=True):
        merged += large[start:at]
        merged.append(member)
        start = at
    merged += large[start:]
    return merged


class HashSet:
    def __init__(self) -> None:
        self._merged = array("Q")  # sorted
        self._recent = array("Q")  # sorted, fewer than _MERGE_AT

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickled by an older release: the recent members in a set.
        state["_recent"] = array("Q", sorted(state.get("_recent", ())))
        self.__dict__.update(state)

    def __len__(self) -> int:
        return len(self._merged) + len(self._recent)

    def __contains__(self, value: str | bytes) -> bool:
        return self.has_key(hash64(value))

    def add(self, value: str | bytes) -> None:
        self.add_key(hash64(value))

    def has_key(self, key: int) -> bool:
        return _find(self._recent, key) >= 0 or _find(self._merged, key) >= 0

    def add_key(self, key: int) -> None:
        if _find(self._merged, key) >= 0:
            return
        recent = self._recent
        at, there = _slot(recent, key)
        if there:
            return
        recent.insert(at, key)
        if len(recent) >= _MERGE_AT:
            places = _places(self._merged, recent)
            self._merged = _interleaved(self._merged, recent, places)
            self._recent = array("Q")


class HashMap:
    """Hash keys (``hash64``) to unsigned 32-bit values (``array("I")``)."""

    def __init__(self) -> None:
        self._keys = array("Q")  # sorted
        self._values = array("I")  # the value of each key, in the same order
        self._recent_keys = array("Q")  # sorted; merged into the above from time to time
        self._recent_values = array("I")

    def __len__(self) -> int:
        return len(self._keys) + len(self._recent_keys)

    def get(self, key: int) -> int | None:
        at = _find(self._recent_keys, key)
        if at >= 0:
            return self._recent_values[at]
        at = _find(self._keys, key)
        return self._values[at] if at >= 0 else None

    def __setitem__(self, key: int, value: int) -> None:
        at = _find(self._keys, key)
        if at >= 0:
            self._values[at] = value
            return
        recent, values = self._recent_keys, self._recent_values
        at, there = _slot(recent, key)
        if there:
            values[at] = value
            return
        recent.insert(at, key)
        try:
            values.insert(at, value)
        except (OverflowError, TypeError):  # a value out of range, or no int: no change
            del recent[at]
            raise
        if len(recent) >= _MERGE_AT:
            places = _places(self._keys, recent)
            self._keys = _interleaved(self._keys, recent, places)
            self._values = _interleaved(self._values, values, places)
            self._recent_keys, self._recent_values = array("Q"), array("I")


class BlobMap:
    """Hash keys to byte strings, all of them in one ``bytearray``: no Python object per
    blob. Written once each, mostly: a blob replaced or discarded stays in the array."""

    def __init__(self) -> None:
        self._at = HashMap()  # → 1 + where its length (4 bytes), then it, starts; 0: none
        self._blobs = bytearray()

    def get(self, key: int) -> bytes | None:
        at = self._at.get(key)
        if not at:
            return None
        start = at + 3
        size = int.from_bytes(self._blobs[at - 1 : start], "big")
        return bytes(self._blobs[start : start + size])

    def __setitem__(self, key: int, blob: bytes) -> None:
        at = len(self._blobs) + 1
        if at + 4 + len(blob) >= 1 << 32:  # where a blob is must fit the map's 32 bits
            raise OverflowError("a BlobMap holds 4 GiB at most")
        self._blobs += len(blob).to_bytes(4, "big")
        self._blobs += blob
        self._at[key] = at

    def discard(self, key: int) -> None:
        if self._at.get(key):
            self._at[key] = 0
